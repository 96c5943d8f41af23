"""What users of Optuna, optuna-dashboard, MLflow and chemprop expect from a real tiny study.

One `hpo run` of three chemprop trials on the demo data (real SQLite Optuna storage, real SQLite MLflow
store) with a simplex parameter and a baseline trial; then: the shares shown are the shares the sampler
trained with, each trial's `best.pt` artifact loads with `chemprop predict`, the parent run carries the
study's summary and system tags, the table is a dataset input, notes link the run through the MLflow UI,
the end of `hpo run` / `hpo best` says everything in full, and the plots are PNG + small HTML.
"""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState
from optuna_dashboard import get_note
from typer.testing import CliRunner

import admet_hpo.sampling
from admet_hpo.cli import app
from admet_hpo.config.study import load_study
from admet_hpo.orchestration import runner
from admet_hpo.orchestration.session import StudySession
from admet_hpo.tracking.keys import trial_parameters
from admet_hpo.tracking.lineage import collect_lineage
from admet_hpo.tracking.plots import display_study

pytestmark = pytest.mark.integration

SPACE = {
    "parameters": {
        "max_lr": {"path": "optim.max_lr", "type": "float", "low": 1.0e-4, "high": 5.0e-3, "log": True},
        "condition_ratio": {
            "path": "sampling.batches.condition_ratio",
            "type": "simplex",
            "keys": ["human", "rat"],
        },
    }
}
#: The baseline trial: equal raw draws give equal shares.
BASELINE = {"max_lr": 1.0e-3, "condition_ratio.human.raw": 0.5, "condition_ratio.rat.raw": 0.5}
#: Raw draws whose shares are far from them (human 0.0145..., rat 0.985...).
SKEWED = {"max_lr": 3.0e-3, "condition_ratio.human.raw": 0.94, "condition_ratio.rat.raw": 0.015}
STEMS = ("optimization_history", "parallel_coordinate", "param_importances", "learning_curve", "parity")


def _write_study(folder: Path) -> Path:
    (folder / "space.yaml").write_text(yaml.safe_dump(SPACE), encoding="utf-8")
    study = {
        "name": "conventions",
        "search_spaces": ["space.yaml"],
        "training": {
            "data": {"dataset": "demo"},
            "model": {"message_hidden_dim": 16, "depth": 2, "ffn_hidden_dim": 16},
            "optim": {"warmup_epochs": 1},
            "trainer": {"max_epochs": 2, "early_stopping_patience": None, "progress_bar": False},
            "sampling": {"batches": {"condition_balanced": True}},
        },
        "sampler": {"type": "random", "seed": 3},
        "pruner": {"type": "none"},
        "n_trials": 3,
        "baseline": False,  # the test enqueues its own baseline and a skewed trial first
        "output_dir": "out",
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory):
    """`hpo run -q` of a baseline, a skewed and one sampled trial; the condition ratio every training's
    batch sampler was built with, in trial order."""
    study_file = _write_study(tmp_path_factory.mktemp("conventions"))
    study = load_study(study_file)
    with StudySession(study) as session:
        prepared = runner.prepare_study(session)
        prepared.enqueue_trial(BASELINE, user_attrs={"baseline": True})
        prepared.enqueue_trial(SKEWED)
    used: list[dict[str, float]] = []
    build = admet_hpo.sampling.build_batch_sampler

    def recording_build(sampling, *args, **kwargs):
        used.append(dict(sampling.batches.condition_ratio))
        return build(sampling, *args, **kwargs)

    patcher = pytest.MonkeyPatch()
    patcher.setattr(admet_hpo.sampling, "build_batch_sampler", recording_build)
    try:
        result = CliRunner().invoke(app, ["run", str(study_file), "-q"])
    finally:
        patcher.undo()
    assert result.exit_code == 0, result.output
    optuna_study = optuna.load_study(study_name=prepared.study_name, storage=study.storage)
    client = mlflow.MlflowClient(study.mlflow_tracking_uri)
    return study_file, study, optuna_study, client, used, result.output


def _run(client: mlflow.MlflowClient, trial: optuna.trial.FrozenTrial):
    return client.get_run(trial.user_attrs["mlflow_run_id"])


def test_simplex_shares_shown_are_the_shares_trained_with(ran) -> None:
    study_file, _, optuna_study, client, used, _ = ran
    trials = optuna_study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3 and len(used) == 3
    skewed = trials[1]
    assert skewed.params["condition_ratio.human.raw"] == SKEWED["condition_ratio.human.raw"]
    assert used[1]["human"] < 0.02 < 0.98 < used[1]["rat"]  # far from the raw draws
    shown_plots = display_study(optuna_study).get_trials()
    status = CliRunner().invoke(app, ["status", str(study_file)]).output
    for trial, trained, plotted in zip(trials, used, shown_plots, strict=True):
        shares = {key: trial.user_attrs[f"condition_ratio.{key}"] for key in ("human", "rat")}
        assert shares == trained
        shown = trial_parameters(trial.params, trial.user_attrs)
        assert {k: shown[f"condition_ratio.{k}"] for k in trained} == trained
        assert plotted.params == shown  # importances and parallel coordinates plot these
        params = _run(client, trial).data.params
        assert {k: float(params[f"condition_ratio.{k}"]) for k in trained} == trained
        assert float(params["condition_ratio.human.raw"]) == trial.params["condition_ratio.human.raw"]
        assert f"{trained['human']:.4g}" in status
        note = get_note(optuna.Trial(optuna_study, trial._trial_id))
        assert f"| condition_ratio.human | {trained['human']:.6g} |" in note
    best = json.loads(CliRunner().invoke(app, ["best", str(study_file), "--json"]).output)
    best_trial = optuna_study.best_trial
    assert best["params"] == trial_parameters(best_trial.params, best_trial.user_attrs)
    assert best["raw_params"] == best_trial.params


def test_a_trials_best_pt_artifact_loads_with_chemprop_predict(ran, tmp_path: Path) -> None:
    _, _, optuna_study, client, _, _ = ran
    run_id = optuna_study.best_trial.user_attrs["mlflow_run_id"]
    model = Path(client.download_artifacts(run_id, "best.pt", str(tmp_path)))
    molecules = tmp_path / "molecules.csv"
    molecules.write_text("smiles\nCCO\nc1ccccc1O\nCC(=O)Nc1ccc(O)cc1\n", encoding="utf-8")
    output = tmp_path / "predictions.csv"
    chemprop = Path(sys.executable).with_name("chemprop")
    completed = subprocess.run(
        [str(chemprop), "predict", "-i", str(molecules), "--model-paths", str(model), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    predictions = pd.read_csv(output)
    artifacts = {item.path for item in client.list_artifacts(run_id)}
    assert {"best.pt", "predictions.csv", "config.yaml", "checkpoints"} <= artifacts
    targets = pd.read_csv(client.download_artifacts(run_id, "predictions.csv", str(tmp_path)))["task"]
    assert len(predictions) == 3
    assert set(targets) <= set(predictions.columns)  # chemprop names the columns after the tasks
    assert predictions[sorted(set(targets))].notna().all().all()


def test_the_parent_run_carries_the_study_summary_and_system_tags(ran) -> None:
    _, study, optuna_study, client, _, _ = ran
    parent = client.get_run(optuna_study.user_attrs["mlflow_parent_run_id"])
    metrics = parent.data.metrics
    best = optuna_study.best_trial
    baseline = optuna_study.trials[0]
    assert metrics["best_value"] == pytest.approx(best.value)
    assert metrics["best_trial"] == best.number
    assert (metrics["trials_complete"], metrics["trials_pruned"], metrics["trials_failed"]) == (3, 0, 0)
    assert metrics["baseline_value"] == pytest.approx(baseline.value)
    assert metrics["best_minus_baseline"] == pytest.approx(best.value - baseline.value)
    history = client.get_metric_history(parent.info.run_id, "trials_complete")
    assert sorted((m.step, m.value) for m in history) == [(1, 1.0), (2, 2.0), (3, 3.0)]  # after each trial
    shown = trial_parameters(best.params, best.user_attrs)
    assert {k: v for k, v in parent.data.tags.items() if k.startswith("best.")} == {
        f"best.{name}": str(value) for name, value in shown.items()
    }
    commit = collect_lineage().git_commit
    for run in (parent, _run(client, baseline)):
        tags = run.data.tags
        assert tags["mlflow.user"] == getpass.getuser()
        assert tags["mlflow.source.name"] == str(study.source)
        assert tags["mlflow.source.type"] == "LOCAL"
        assert tags.get("mlflow.source.git.commit") == commit


def test_the_training_table_is_a_dataset_input_with_its_content_hash(ran) -> None:
    _, _, optuna_study, client, _, _ = ran
    for trial in optuna_study.trials:
        run = _run(client, trial)
        (entry,) = run.inputs.dataset_inputs
        profile = json.loads(entry.dataset.profile)
        assert profile["content_hash"] == run.data.tags["lineage.data_hash"]
        assert entry.dataset.digest == profile["content_hash"][:36]
        assert {tag.key: tag.value for tag in entry.tags}["mlflow.data.context"] == "training"
        assert profile["split_hash"] == run.data.tags["lineage.split_hash"]


def test_dashboard_notes_link_the_run_through_the_mlflow_ui(ran) -> None:
    _, study, optuna_study, _, _, _ = ran
    experiment = optuna_study.user_attrs["mlflow_experiment_id"]
    for trial in optuna_study.trials:
        note = get_note(optuna.Trial(optuna_study, trial._trial_id))
        run_id = trial.user_attrs["mlflow_run_id"]
        assert f"[{run_id}](http://127.0.0.1:5000/#/experiments/{experiment}/runs/{run_id})" in note
        assert f"`mlflow ui --backend-store-uri {study.mlflow_tracking_uri} --port 5000`" in note


def test_the_end_of_run_and_best_give_everything_in_full(ran) -> None:
    study_file, study, optuna_study, _, _, run_output = ran
    best_output = CliRunner().invoke(app, ["best", str(study_file)]).output
    best = optuna_study.best_trial
    model = Path(best.user_attrs["output_dir"]) / "best.pt"
    assert model.is_file()
    for output in (run_output, best_output):
        lines = [line.strip() for line in output.splitlines()]
        assert "…" not in output
        for name, value in trial_parameters(best.params, best.user_attrs).items():
            assert f"{name} = {value:.6g}" in lines
        assert f"model: {model}" in lines
        assert f"model in MLflow: runs:/{best.user_attrs['mlflow_run_id']}/best.pt" in lines
        assert f"dashboard: hpo dashboard {study_file}" in lines
        assert (
            f"start the MLflow UI: mlflow ui --backend-store-uri {study.mlflow_tracking_uri} --port 5000"
            in lines
        )


def test_plots_are_png_and_small_html_pages_under_one_megabyte(ran, tmp_path: Path) -> None:
    _, _, optuna_study, client, _, _ = ran
    parent = optuna_study.user_attrs["mlflow_parent_run_id"]
    logged = sorted(item.path for item in client.list_artifacts(parent, "plots"))
    assert logged == sorted(f"plots/{stem}.{kind}" for stem in STEMS for kind in ("html", "png"))
    folder = Path(client.download_artifacts(parent, "plots", str(tmp_path)))
    assert sum(path.stat().st_size for path in folder.iterdir()) < 1_000_000  # all of one invocation
    for stem in STEMS:
        html = (folder / f"{stem}.html").read_text(encoding="utf-8")
        assert 'src="https://cdn.plot.ly/plotly-' in html  # plotly.js is loaded, not embedded or beside
        assert (folder / f"{stem}.png").read_bytes().startswith(b"\x89PNG")
    parity = (folder / "parity.html").read_text(encoding="utf-8")
    table = optuna_study.best_trial.user_attrs["output_dir"]
    for task in pd.read_csv(Path(table) / "predictions.csv")["task"].unique():
        assert task in parity
    curve = (folder / "learning_curve.html").read_text(encoding="utf-8")
    assert "train_loss" in curve and "val_loss" in curve
    importances = (folder / "param_importances.html").read_text(encoding="utf-8")
    assert "condition_ratio.human" in importances and "condition_ratio.human.raw" not in importances
