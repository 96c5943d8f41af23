"""The quality and cost study scripts: options, arm definitions, verdicts and report helpers (no training)."""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_arms  # noqa: E402
import bench_data  # noqa: E402
import bench_eval  # noqa: E402
import bench_report  # noqa: E402
import censoring_modes  # noqa: E402
import cost_study  # noqa: E402
import quality_study  # noqa: E402
import sampler_ablation  # noqa: E402
from admet_hpo.config.study import load_study  # noqa: E402
from admet_hpo.data.table import SplitIndices  # noqa: E402

MODEL_PARAMS = {"depth", "message_hidden_dim", "dropout", "max_lr"}
SAMPLER_PARAMS = {
    "uniform": set(),
    "task_oversampling": {"alpha"},
    "curriculum": {"patience"},
    "batch_composition": {"leaky", "condition_ratio"},
    "joint": {"alpha", "patience", "leaky", "condition_ratio"},
}
SWITCHES = {  # task oversampling, curriculum, experiment-aware, condition-balanced
    "uniform": (False, False, False, False),
    "task_oversampling": (True, False, False, False),
    "curriculum": (False, True, False, False),
    "batch_composition": (False, False, True, True),
    "joint": (True, True, True, True),
}


def test_quality_defaults_come_from_the_preset_and_flags_override_them() -> None:
    args = sampler_ablation.parse_args([])
    assert (args.trials, args.epochs, args.seeds, args.train_fraction) == (5, 10, 3, 0.4)
    tiny = sampler_ablation.parse_args(["--scale", "tiny", "--epochs", "3"])
    assert (tiny.trials, tiny.epochs, tiny.seeds, tiny.model_space) == (2, 3, 1, "small")
    assert sampler_ablation.parse_args(["--scale", "large"]).model_space == "full"
    assert args.work_dir == Path("runs/benchmarks/quality-default")
    assert tiny.work_dir == Path("runs/benchmarks/quality-tiny")


@pytest.mark.parametrize(
    "argv",
    [["--epochs", "1"], ["--trials", "0"], ["--seeds", "0"], ["--train-fraction", "0"], ["--arms", "nope"]],
)
def test_quality_rejects_bad_sizes(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        sampler_ablation.parse_args(argv)


@pytest.mark.parametrize("argv", [["--cache-trials", "1"], ["--epochs", "1"], ["--train-fraction", "1.5"]])
def test_cost_rejects_bad_sizes(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        cost_study.parse_args(argv)


@pytest.mark.parametrize("arm", bench_arms.ARMS)
def test_every_arm_is_a_valid_study_searching_its_own_knobs(arm: str, tmp_path: Path) -> None:
    settings = bench_arms.RunSettings(n_trials=7, epochs=4)
    table = tmp_path / "table.csv"
    mapping = bench_arms.compose_arm(
        arm, settings, output_dir=tmp_path / arm, table_path=table, target_cols=("a", "b")
    )
    study = load_study(bench_arms.write_study_file(mapping, tmp_path / arm / "study.yaml"))

    assert set(study.space.parameters) == SAMPLER_PARAMS[arm] | MODEL_PARAMS
    sampling = study.base_training.sampling
    switches = (
        sampling.task_oversampling.enabled,
        sampling.curriculum.enabled,
        sampling.batches.experiment_aware,
        sampling.batches.condition_balanced,
    )
    assert switches == SWITCHES[arm]
    assert study.n_trials == 7
    assert study.base_training.trainer.max_epochs == 4
    assert study.base_training.data.path == table
    assert study.base_training.split.method == "column"
    assert study.base_training.data.split_col == bench_data.SPLIT_COL
    assert study.sampler.seed == 0 and study.sampler.args == {"n_startup_trials": 3}
    assert study.pruner.type == "median"
    assert study.storage == f"sqlite:///{tmp_path / arm / 'optuna.db'}"


def test_a_folder_with_a_study_is_not_reused(tmp_path: Path) -> None:
    mapping = bench_arms.compose_arm("uniform", bench_arms.RunSettings(2, 2), output_dir=tmp_path)
    bench_arms.write_study_file(mapping, tmp_path / "study.yaml")
    (tmp_path / "optuna.db").touch()
    with pytest.raises(FileExistsError, match="already holds a study"):
        bench_arms.write_study_file(mapping, tmp_path / "study.yaml")


def test_arms_share_everything_but_the_sampler() -> None:
    composed = {arm: bench_arms.read_arm(arm) for arm in bench_arms.ARMS}
    for study in composed.values():
        del study["name"], study["description"], study["search_spaces"], study["training"]["sampling"]
    first = composed[bench_arms.ARMS[0]]
    assert all(study == first for study in composed.values())


def test_pruning_off_and_the_full_model_space() -> None:
    settings = bench_arms.RunSettings(n_trials=30, epochs=3, model_space="full", pruner="none")
    study = bench_arms.compose_arm("joint", settings, output_dir=Path("/tmp/x"))
    assert study["pruner"] == {"type": "none"}
    assert study["search_spaces"][-1].endswith("search_spaces/model.yaml")
    assert study["training"]["data"] == {"dataset": "adme_multisource"}  # no table: the known set
    assert settings.n_startup_trials == 10


def test_unknown_arm_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown arm 'nope'"):
        bench_arms.read_arm("nope")


def test_merge_merges_mappings_and_replaces_lists() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged = bench_arms.merge(base, {"a": {"c": [3], "e": 2}})
    assert merged == {"a": {"b": 1, "c": [3], "e": 2}, "d": 1}
    assert base["a"]["c"] == [1, 2]


def test_subsample_train_keeps_val_and_test_and_is_seeded() -> None:
    split = SplitIndices(np.arange(0, 100), np.arange(100, 110), np.arange(110, 120), "h")
    sub = bench_data.subsample_train(split, 0.25, seed=3)
    assert len(sub.train) == 25 and set(sub.train) <= set(split.train)
    assert np.all(np.diff(sub.train) > 0)
    assert sub.val is split.val and sub.test is split.test
    assert np.array_equal(sub.train, bench_data.subsample_train(split, 0.25, seed=3).train)
    assert sub.split_hash != split.split_hash
    assert bench_data.subsample_train(split, 1.0, seed=3) is split
    with pytest.raises(ValueError, match="train fraction"):
        bench_data.subsample_train(split, 0.0, seed=3)


def test_score_predictions_adds_r_to_the_products_metrics() -> None:
    y_true = np.array([[1.0], [2.0], [4.0]])
    scores = bench_eval.score_predictions(y_true, y_true + 1.0, ["t"])
    assert scores[0].rmse == pytest.approx(1.0) and scores[0].mae == pytest.approx(1.0)
    assert scores[0].pearson_r == pytest.approx(1.0) and scores[0].n == 3


def test_task_mean_and_spread() -> None:
    scores = [bench_eval.TaskScore(t, 5, v, v, 0.0, math.nan) for t, v in (("a", 1.0), ("hPPB", 3.0))]
    assert bench_eval.task_mean(scores, "rmse") == 2.0
    assert bench_eval.task_mean(scores, "rmse", ["hPPB"]) == 3.0
    assert math.isnan(bench_eval.task_mean(scores, "pearson_r"))
    assert bench_eval.mean_sd([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert math.isnan(bench_eval.mean_sd([1.0])[1])


def test_verdict_says_no_difference_when_the_spreads_overlap() -> None:
    summary = {"uniform": (0.80, 0.02), "joint": (0.79, 0.02), "curriculum": (0.70, 0.01)}
    text = bench_eval.verdict(summary, "rmse", "mean RMSE", ("uniform", "joint"))
    assert text.startswith("On mean RMSE, **curriculum** is best (0.700 ± 0.010).")
    assert "runner-up joint (0.790 ± 0.020) it is better by 0.090" in text
    assert "do not overlap" in text and "Against uniform" in text
    assert "Order: curriculum 0.700 ± 0.010, joint 0.790 ± 0.020, uniform 0.800 ± 0.020." in text
    assert text.endswith("Separated from the best (intervals do not overlap): joint, uniform.")

    close = bench_eval.verdict({"uniform": (0.5, 0.1), "joint": (0.6, 0.1)}, "r2", "R²", ("uniform", "joint"))
    assert "**joint** is best" in close and "no difference at this budget" in close
    assert "Separated" not in close
    single = bench_eval.verdict(
        {"uniform": (0.5, math.nan), "joint": (0.6, math.nan)}, "r2", "R²", ("uniform",)
    )
    assert "one seed only" in single


def test_markdown_table_and_readme_block(tmp_path: Path) -> None:
    table = bench_report.markdown_table(["a", "b"], [["x", 1.23456], ["y", math.nan]])
    assert table.splitlines() == ["| a | b |", "| --- | ---: |", "| x | 1.235 |", "| y | n/a |"]
    readme = tmp_path / "README.md"
    readme.write_text("head\n<!-- BEGIN q -->\nold\n<!-- END q -->\ntail\n", encoding="utf-8")
    assert bench_report.replace_block(readme, "q", "new $1 \\1\n")
    assert readme.read_text(encoding="utf-8") == "head\n<!-- BEGIN q -->\nnew $1 \\1\n<!-- END q -->\ntail\n"
    assert not bench_report.replace_block(readme, "other", "x")


def test_censoring_defaults_and_bad_options() -> None:
    args = censoring_modes.parse_args([])
    assert (args.epochs, args.seeds, args.train_fraction, args.modes) == (
        8,
        2,
        0.4,
        ("loss", "drop", "as_exact"),
    )
    assert censoring_modes.parse_args(["--modes", "loss, drop"]).modes == ("loss", "drop")
    for argv in (["--epochs", "1"], ["--seeds", "0"], ["--modes", "loss,ignore"], ["--train-fraction", "0"]):
        with pytest.raises(SystemExit):
            censoring_modes.parse_args(argv)


def test_censoring_report_pools_bounds_by_side_and_lists_censored_tasks() -> None:
    from types import SimpleNamespace

    from admet_hpo.training.bound_metrics import BoundAgreement
    from admet_hpo.training.metrics import TaskMetrics

    def result(lt_share: float, rmse: float) -> SimpleNamespace:
        return SimpleNamespace(
            best_val_loss=0.5,
            test_metrics={
                "a": TaskMetrics(10, rmse, rmse, 0.5, 0.7, 0.7),
                "b": TaskMetrics(5, 1.0, 1.0, 0.1, 0.3, 0.3),
            },
            test_bounds={
                "a": BoundAgreement(30, 10, lt_share, 1.0, (30 * lt_share + 10) / 40, 0.2),
                "b": BoundAgreement(0, 0, math.nan, math.nan, math.nan, math.nan),
            },
        )

    rows = [
        censoring_modes.run_row("loss", 0, result(0.5, 0.4), 10.0),
        censoring_modes.run_row("loss", 1, result(1.0, 0.6), 12.0),
        censoring_modes.run_row("drop", 0, result(0.0, 0.5), 9.0),
    ]
    assert rows[0]["test_lt_agreement"] == 0.5 and rows[0]["test_gt_agreement"] == 1.0
    assert rows[0]["test_mean_rmse"] == pytest.approx(0.7) and rows[0]["test_mean_excess"] == 0.2
    text = censoring_modes.report(rows, ("loss", "drop"), "- settings")
    assert "| `loss` | 0.750 (0.700–0.800) |" in text
    assert "`<` 30 cells, `>` 10 cells" in text
    assert "| a | `drop` | 40 |" in text and "| b |" not in text


def test_search_efficiency_options_and_the_configs_both_tools_run(tmp_path: Path) -> None:
    import search_efficiency
    from admet_hpo.config.training import load_training_config

    args = search_efficiency.parse_args(["--only", "overhead", "--scale", "tiny"])
    assert args.only == ["overhead"] and search_efficiency.SCALES[args.scale].overhead_trials >= 2
    with pytest.raises(SystemExit):
        search_efficiency.parse_args(["--only", "nope"])
    table = tmp_path / "t.csv"
    command = search_efficiency.hpo_command(table, 3, tmp_path / "hpo")
    config = load_training_config(Path(command[-2]))
    assert (config.model.message_hidden_dim, config.model.depth, config.trainer.batch_size) == (300, 3, 64)
    assert config.trainer.max_epochs == 3 and config.data.split_col == "split"
    assert not config.sampling.task_oversampling.enabled and not config.sampling.curriculum.enabled
    chemprop = search_efficiency.chemprop_command(table, 3, tmp_path / "cp")
    assert chemprop[chemprop.index("--epochs") + 1] == "3" and "--splits-column" in chemprop
    assert all(target in chemprop for target in search_efficiency.BIOGEN_TARGETS)


def test_search_efficiency_workers_study_and_its_report(tmp_path: Path) -> None:
    import search_efficiency
    from admet_hpo.config.study import load_study

    study = load_study(search_efficiency.workers_study(tmp_path, tmp_path / "t.csv", trials=4, epochs=3))
    model = study.base_training.model
    assert (model.message_hidden_dim, model.depth, study.base_training.trainer.max_epochs) == (300, 3, 3)
    assert study.n_trials == 4 and study.pruner.type == "none" and not study.config.baseline
    rows = [
        {
            "workers": w,
            "threads": threads,
            "trials": 4,
            "epochs": 12,
            "wall_s": s,
            "trials_per_hour": 3600 * 4 / s,
            "first_trial_s": f,
            "first_run_s": [x + 4 for x in f],
            "import_floor_s": 9.25,
        }
        for w, threads, s, f in ((1, 2, 200.0, [10.0]), (1, 1, 240.0, [9.5]), (2, 1, 125.0, [11.0, 12.5]))
    ]
    text = search_efficiency.workers_section(rows)
    assert "**1.60x** as fast as `--workers 1` with all 2 cores" in text
    assert "**1.92x** as fast as one worker with one thread" in text
    assert "| 2 | 1 | 4 | 12 | 125.0 | 115.2 | 11.0, 12.5 | 15.0, 16.5 |" in text
    assert "takes 9.2 s here" in text  # the import time of the fork server's preload, beside them
    assert [layout[0] for layout in search_efficiency.WORKER_LAYOUTS] == [1, 1, 2]


def test_first_per_worker_takes_each_workers_earliest_trial() -> None:
    from optuna.trial import create_trial

    import search_efficiency

    trials = []
    for number, worker in enumerate("abab"):
        trials.append(create_trial(value=1.0, user_attrs={"worker": worker}))
        trials[-1].number = number
    seconds = {0: 9.0, 1: 12.0, 2: 7.5, 3: 30.0}
    assert search_efficiency.first_per_worker(trials, seconds) == [7.5, 12.0]


def test_search_efficiency_overhead_keeps_the_fastest_round_of_each_tool() -> None:
    import search_efficiency

    def row(backend: str, tool: str, ms: float) -> dict[str, object]:
        return {"backend": backend, "tool": tool, "per_trial_ms": ms}

    rounds = [
        [row("SQLite", "hpo (runner)", 40.0), row("SQLite", "plain Optuna", 31.0)],
        [row("SQLite", "hpo (runner)", 38.0), row("SQLite", "plain Optuna", 33.0)],
    ]
    fastest = search_efficiency.fastest_rounds(rounds)
    assert [(r["tool"], r["per_trial_ms"], r["rounds_per_trial_ms"]) for r in fastest] == [
        ("hpo (runner)", 38.0, [40.0, 38.0]),
        ("plain Optuna", 31.0, [31.0, 33.0]),
    ]


def test_search_efficiency_overhead_section_gives_what_the_product_adds_over_plain_optuna() -> None:
    import search_efficiency

    rows = [
        {
            "backend": backend,
            "tool": tool,
            "trials": 10,
            "epochs": 76,
            "per_trial_ms": ms,
            "per_trial_cpu_ms": ms - 5,
            "per_epoch_ms": 3.0,
            "per_epoch_cpu_ms": 4.0,
            "train_share": share,
            "load": 0.5,
        }
        for backend, tool, ms, share in (
            ("SQLite", "hpo (runner)", 42.0, 0.8),
            ("SQLite", "plain Optuna", 29.5, None),
            ("PostgreSQL", "hpo (runner)", 71.0, 0.8),
            ("PostgreSQL", "plain Optuna", 56.0, None),
        )
    ]
    text = search_efficiency.overhead_section(rows)
    assert "| PostgreSQL | plain Optuna | 10 | 76 | 56.0 | 51.0 | 3.00 | 4.00 | - | 0.5 |" in text
    assert "over plain Optuna: SQLite 12.5 ms, PostgreSQL 15.0 ms." in text


def test_plain_optuna_stand_in_curve_falls_with_the_epochs_and_prefers_a_learning_rate() -> None:
    import search_efficiency

    best = {"max_lr": 1e-3, "alpha": 0.5}
    assert search_efficiency.stand_in_loss(best, 5) < search_efficiency.stand_in_loss(best, 0)
    assert search_efficiency.stand_in_loss(best, 3) < search_efficiency.stand_in_loss(
        {**best, "max_lr": 1e-4}, 3
    )


def test_search_efficiency_pruning_studies_differ_only_in_their_pruner(tmp_path: Path) -> None:
    import search_efficiency
    from admet_hpo.search.algorithms import build_pruner

    scale = search_efficiency.SCALES["default"]
    studies = {
        pruner: load_study(
            search_efficiency.pruning_study_file(tmp_path / pruner, tmp_path / "t.csv", pruner, scale)
        )
        for pruner in search_efficiency.PRUNERS
    }
    assert [type(build_pruner(s)).__name__ for s in studies.values()] == [
        "NopPruner",
        "HyperbandPruner",
        "SuccessiveHalvingPruner",
    ]
    for study in studies.values():
        trainer = study.base_training.trainer
        assert (trainer.max_epochs, trainer.early_stopping_patience) == (scale.pruning_epochs, None)
        assert study.n_trials == scale.pruning_trials and study.sampler.seed == 0
        assert study.space.files == [search_efficiency.SEARCH_SPACES / "model_small.yaml"]
    trained = [s.base_training.model_dump(exclude={"output_dir"}) for s in studies.values()]
    assert trained[0] == trained[1] == trained[2]  # the same training, only the pruner differs


def test_search_efficiency_parity_needs_the_biogen_file(tmp_path: Path) -> None:
    import search_efficiency

    with pytest.raises(SystemExit, match=r"ADME_public_set_3521\.csv"):
        search_efficiency.parity_table(tmp_path, tmp_path)


def _evidence_bench(tmp_path: Path) -> bench_data.BenchTable:
    path = tmp_path / "biogen_adme_bench.csv"
    path.write_text("smiles,HLM_CLint,split\nCCO,1.0,train\n", encoding="utf-8")
    return bench_data.BenchTable(
        path=path,
        target_cols=("HLM_CLint", "hPPB"),
        rows={"train": 8, "val": 1, "test": 1},
        labels={part: {"HLM_CLint": 1, "hPPB": 1} for part in ("train", "val", "test")},
        train_fraction=1.0,
    )


def test_model_quality_presets_and_bad_sizes() -> None:
    default = quality_study.parse_args([])
    assert (default.trials, default.epochs, default.seeds, default.train_fraction) == (6, 20, 2, 1.0)
    assert default.work_dir == Path("runs/benchmarks/model-quality-default")
    assert quality_study.parse_args(["--scale", "tiny", "--seeds", "2"]).seeds == 2
    for argv in (["--epochs", "2"], ["--trials", "0"], ["--jobs", "0"], ["--jobs", "999"], ["--arms", "x"]):
        with pytest.raises(SystemExit):
            quality_study.parse_args(argv)


def test_model_quality_defaults_are_chemprops_and_the_tuned_arms_search_their_spaces(tmp_path: Path) -> None:
    from admet_hpo.config.training import TrainingConfig

    bench = _evidence_bench(tmp_path)
    defaults = TrainingConfig.model_validate(quality_study.default_training(bench, 7, tmp_path / "out"))
    model, optim = defaults.model, defaults.optim
    assert (model.message_hidden_dim, model.depth, model.ffn_hidden_dim, model.ffn_num_layers) == (
        300,
        3,
        300,
        1,
    )
    assert (optim.warmup_epochs, optim.init_lr, optim.max_lr, optim.final_lr) == (2, 1e-4, 1e-3, 1e-4)
    assert (defaults.trainer.batch_size, defaults.trainer.max_epochs) == (64, 7)
    assert not defaults.sampling.task_oversampling.enabled
    searched = {}
    for arm in ("tuned_uniform", "tuned_joint"):
        mapping = quality_study.study_mapping(arm, bench, 5, 7, tmp_path / arm)
        study_file = tmp_path / arm / "study.yaml"
        study_file.parent.mkdir(parents=True)
        study_file.write_text(yaml.safe_dump(mapping), encoding="utf-8")
        study = load_study(study_file)
        assert study.n_trials == 5 and study.pruner.type == "hyperband"
        assert study.base_training.model == defaults.model and study.base_training.optim == defaults.optim
        searched[arm] = set(study.space.parameters)
    assert {"depth", "message_hidden_dim", "max_lr"} <= searched["tuned_uniform"]
    assert searched["tuned_joint"] - searched["tuned_uniform"] == {"alpha", "patience", "condition_ratio"}


def test_model_quality_report_compares_every_arm_with_chemprops_cli(tmp_path: Path) -> None:
    bench = _evidence_bench(tmp_path)

    def run(arm: str, seed: int, r: float) -> quality_study.Outcome:
        scores = [bench_eval.TaskScore(t, 3, 1.0, 0.5, 0.1, r, r) for t in bench.target_cols]
        return quality_study.Outcome(arm, "train", seed, 1.0, scores, 7)

    trainings = [run("chemprop_cli", s, 0.60 + 0.01 * s) for s in (1, 2)]
    trainings += [run("tuned_joint", s, 0.80 + 0.01 * s) for s in (1, 2)]
    search = quality_study.Outcome("tuned_joint", "search", best_values={"depth": 4}, best_value=0.5)
    search.trials = [{"arm": "tuned_joint", "trial": 0, "state": "COMPLETE", "value": 0.5, "epochs": 7}]
    record = quality_study.RunRecord(
        command="python benchmarks/quality_study.py",
        scale="tiny",
        trials=1,
        epochs=7,
        seeds=2,
        machine="- machine: test",
        bench=dataclasses.asdict(bench),
        searches=[search],
        trainings=trainings,
    )
    saved = quality_study.RunRecord.load(record.save(tmp_path / "record.json"))
    full, block = quality_study.report(saved)
    assert "**tuned_joint** is best (0.815 ± 0.007)" in full
    assert "Against runner-up chemprop_cli (0.615 ± 0.007)" in full and "do not overlap" in full
    assert "#### Test spearman_rho per endpoint" in block and "| HLM_CLint | 1 |" in block
    assert "What this budget cannot tell" in block


def test_pruning_row_counts_epochs_trained_and_names_the_best_trial() -> None:
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    space = {"x": FloatDistribution(0, 1)}
    trials = [
        create_trial(
            state=state, value=value, params={"x": x}, distributions=space, user_attrs={"epochs_run": e}
        )
        for state, value, x, e in (
            (TrialState.COMPLETE, 0.5, 0.1, 10),
            (TrialState.PRUNED, None, 0.2, 3),
            (TrialState.COMPLETE, 0.4, 0.3, 10),
        )
    ]
    for number, trial in enumerate(trials):
        trial.number = number
    row = cost_study.pruning_row("hyperband", trials, trials[2], 1.234)
    assert (row["trials"], row["pruned"], row["epochs"], row["minutes"]) == (3, 1, 23, 1.23)
    assert (row["best_value"], row["best_trial"]) == (0.4, 2)
    assert row["params"][1] == '{"x": 0.2}'
