"""FlexibleBatchSampler (SPEC 2.4): batch structure, quotas, draws by joint weight, ranks, determinism."""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch.utils.data import DataLoader, TensorDataset

from admet_hpo.errors import DataValidationError
from admet_hpo.sampling import (
    CurriculumState,
    FlexibleBatchSampler,
    JointSampler,
    JointWeighting,
    SmallCellWarning,
    largest_remainder,
)

from .synthetic import QUALITIES, Split, assert_fits, make_split

BATCH_MODES = [
    {},
    {"experiment_aware": True, "leaky": 0.2},
    {"condition_balanced": True},
    {"experiment_aware": True, "condition_balanced": True, "leaky": 0.3},
]


def structured(split: Split, batch_size: int = 20, **options: object) -> FlexibleBatchSampler:
    curriculum = CurriculumState(QUALITIES, patience=1)
    weighting = JointWeighting(split.targets, task_alpha=0.5, quality=split.quality, curriculum=curriculum)
    options = {"experiment_aware": True, "condition_balanced": True, "leaky": 0.25, **options}
    return FlexibleBatchSampler(
        weighting, batch_size, experiment=split.experiment, condition=split.condition, seed=3, **options
    )


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 1000),
    st.integers(2, 48),
    st.floats(0.0, 0.95),
    st.lists(st.integers(0, 5), min_size=3, max_size=3).filter(lambda r: sum(r) > 0),
)
def test_every_batch_has_one_experiment_exact_leak_and_exact_condition_quotas(
    seed: int, batch_size: int, leaky: float, ratio: list[int]
) -> None:
    split = make_split(n=600, conditions=("human", "rat", "dog"), seed=seed)
    condition = split.condition.copy()
    condition[(split.experiment == "D") & (condition == "dog")] = "rat"  # D has no dog rows
    split = Split(split.targets, split.quality, split.experiment, condition)
    names = ("dog", "human", "rat")
    ratio_map = dict(zip(names, ratio, strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCellWarning)
        sampler = structured(split, batch_size, leaky=leaky, condition_ratio=ratio_map)
    leak = int(batch_size * leaky)
    primary = batch_size - leak
    exact = {}
    for own in ("A", "B", "C", "D"):
        present = [((split.experiment == own) & (condition == c) & split.labelled).any() for c in names]
        shares = np.array(ratio) * present
        exact[own] = primary * shares / shares.sum() if shares.sum() else np.zeros(3)
    batches = sampler.epoch_batches(seed % 4)
    assert batches.shape == (len(sampler), batch_size)
    assert split.labelled[batches].all()
    batch_experiment = split.experiment[batches]
    batch_condition = condition[batches[:, :primary]]
    for b, own in enumerate(batch_experiment[:, 0]):
        assert (batch_experiment[b, :primary] == own).all()
        assert (batch_experiment[b, primary:] != own).all()
        assert exact[own].sum() == pytest.approx(primary), "an experiment without drawable cells led"
        counts = np.array([int((batch_condition[b] == c).sum()) for c in names])
        extra = counts - np.floor(exact[own] + 1e-9)
        assert counts.sum() == primary and set(extra.tolist()) <= {0, 1}
        remainder = exact[own] - np.floor(exact[own] + 1e-9)
        # Largest remainder: a condition left without the extra unit never has a larger remainder.
        assert all(
            remainder[i] <= remainder[j] + 1e-9
            for i in np.flatnonzero(extra == 0)
            for j in np.flatnonzero(extra == 1)
        )


def test_condition_ratio_quotas_are_exact(split: Split) -> None:
    sampler = structured(split, batch_size=50, leaky=0.2, condition_ratio={"human": 3, "rat": 1})
    for batch in sampler.epoch_batches(0):
        assert (split.condition[batch[:40]] == "human").sum() == 30
        assert (split.condition[batch[:40]] == "rat").sum() == 10


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 200), st.lists(st.floats(0.0, 10.0), min_size=1, max_size=6))
def test_largest_remainder_follows_the_ratios_and_sums_exactly(total: int, ratios: list[float]) -> None:
    r = np.array(ratios)
    quotas = largest_remainder(total, r)
    if r.sum() == 0:
        assert quotas.tolist() == [0] * len(ratios)
        return
    exact = total * r / r.sum()
    assert quotas.sum() == total
    assert np.all(np.abs(quotas - exact) < 1)
    assert np.all(quotas[r == 0] == 0)


def test_experiments_are_chosen_in_proportion_to_their_size(split: Split) -> None:
    sampler = structured(split, batch_size=10, leaky=0.0)
    firsts = np.concatenate([sampler.epoch_batches(epoch)[:, 0] for epoch in range(15)])
    names = ["A", "B", "C", "D"]
    observed = np.array([(split.experiment[firsts] == n).sum() for n in names])
    assert_fits(observed, [((split.experiment == n) & split.labelled).sum() for n in names])


def test_experiment_weights_set_the_choice_and_zero_weight_experiments_never_lead(split: Split) -> None:
    weights = {"A": 1.0, "B": 0.0, "C": 1.0, "D": 2.0}
    sampler = structured(split, batch_size=10, leaky=0.3, experiment_weights=weights)
    firsts = np.concatenate([sampler.epoch_batches(epoch)[:, 0] for epoch in range(10)])
    observed = np.array([(split.experiment[firsts] == n).sum() for n in "ABCD"])
    assert observed[1] == 0
    assert_fits(observed, [1, 0, 1, 2])


@pytest.mark.filterwarnings("ignore::admet_hpo.sampling.QualityShareWarning")  # C holds only low rows
def test_experiments_without_positive_weight_are_never_chosen_nor_leaked(split: Split) -> None:
    quality = split.quality.copy()
    quality[split.experiment == "C"] = "low"
    curriculum = CurriculumState(QUALITIES, patience=1, phase_weights={"warmup": [1, 1, 0]})
    weighting = JointWeighting(split.targets, quality=quality, curriculum=curriculum)
    sampler = FlexibleBatchSampler(
        weighting, 10, experiment=split.experiment, experiment_aware=True, leaky=0.5, seed=1
    )
    assert not (split.experiment[sampler.epoch_batches(0)] == "C").any()
    curriculum.update(0, 1.0)
    curriculum.update(1, 1.0)  # expand: low-quality rows weigh again, from the next epoch's draws
    assert (split.experiment[sampler.epoch_batches(1)] == "C").any()


def test_inside_a_cell_classes_are_drawn_by_joint_weight_and_rows_uniformly(split: Split) -> None:
    sampler = structured(split, batch_size=20, leaky=0.0)
    layout = sampler.layout
    primary = np.concatenate([sampler.epoch_batches(epoch) for epoch in range(10)]).ravel()
    classes = layout.class_of_row[primary]
    observed = np.bincount(classes, minlength=layout.n_classes)
    masses = (
        layout.sizes * sampler.weighting.class_weights()[layout.keys % sampler.weighting.layout.n_classes]
    )
    cell = sampler._class_cell
    slots_per_cell = np.bincount(cell, weights=observed)
    mass_per_cell = np.bincount(cell, weights=masses)
    expected = slots_per_cell[cell] * masses / mass_per_cell[cell]
    keep = expected > 0
    result = stats.chisquare(observed[keep], expected[keep], ddof=len(np.unique(cell)) - 1)
    assert result.pvalue > 1e-3
    biggest = int(np.argmax(observed))
    members = np.flatnonzero(layout.class_of_row == biggest)
    assert_fits(np.bincount(primary, minlength=len(split.labelled))[members], np.ones(members.size))


def test_rows_do_not_repeat_inside_a_batch_when_classes_are_large_enough(split: Split) -> None:
    weighting = JointWeighting(split.targets)
    sampler = FlexibleBatchSampler(weighting, 40, experiment=split.experiment, experiment_aware=True, seed=0)
    assert all(len(set(batch)) == 40 for batch in sampler.epoch_batches(0).tolist())


def test_small_cells_are_drawn_with_replacement_after_one_warning_naming_them() -> None:
    split = make_split(n=2000, experiments=("A", "B"), experiment_p=(0.5, 0.5), seed=1)
    condition = split.condition.copy()
    tiny = np.flatnonzero((split.experiment == "B") & split.labelled)[:3]
    condition[split.experiment == "B"] = "human"
    condition[tiny] = "rat"
    split = Split(split.targets, split.quality, split.experiment, condition)
    weighting = JointWeighting(split.targets)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler = FlexibleBatchSampler(
            weighting,
            32,
            experiment=split.experiment,
            condition=condition,
            experiment_aware=True,
            condition_balanced=True,
            seed=2,
        )
        batches = sampler.epoch_batches(0)
    small = [w for w in caught if issubclass(w.category, SmallCellWarning)]
    assert len(small) == 1
    assert "1 batch cell(s)" in str(small[0].message)
    assert "experiment 'B' / condition 'rat' (3 rows, quota 16)" in str(small[0].message)
    from_b = batches[split.experiment[batches[:, 0]] == "B"]
    assert from_b.size
    for batch in from_b:
        rat = batch[condition[batch] == "rat"]
        assert rat.size == 16 and set(rat.tolist()) == set(tiny.tolist())
        human = batch[condition[batch] == "human"]
        assert len(set(human.tolist())) == human.size


def test_same_seed_and_epoch_give_the_same_batches_on_separate_samplers(split: Split) -> None:
    a, b = structured(split), structured(split)
    assert np.array_equal(a.epoch_batches(5), b.epoch_batches(5))
    assert not np.array_equal(a.epoch_batches(5), a.epoch_batches(6))
    a.set_epoch(5)
    assert list(a) == b.epoch_batches(5).tolist()


@pytest.mark.parametrize("mode", BATCH_MODES)
def test_seed_s_at_epoch_e_plus_1_and_seed_s_plus_1_at_epoch_e_draw_different_batches(
    split: Split, mode: dict
) -> None:
    weighting = JointWeighting(split.targets, task_alpha=0.5)

    def batches(seed: int, epoch: int) -> np.ndarray:
        return FlexibleBatchSampler(
            weighting, 20, experiment=split.experiment, condition=split.condition, seed=seed, **mode
        ).epoch_batches(epoch)

    for seed, epoch in [(0, 0), (7, 3), (41, 9)]:
        later, next_seed = batches(seed, epoch + 1), batches(seed + 1, epoch)
        shared = np.mean([set(a) == set(b) for a, b in zip(later.tolist(), next_seed.tolist(), strict=True)])
        assert shared < 0.05, f"{shared:.0%} of the batches are the same"


def test_ties_of_equal_conditions_rotate_so_every_condition_gets_its_share() -> None:
    """Batch 64 over five equal conditions (12.8 rows each): no condition is always short."""
    rng = np.random.default_rng(0)
    names = np.array(["cat", "dog", "human", "mouse", "rat"], dtype=object)
    n = 5000
    targets = rng.normal(size=(n, 1))
    condition = names[rng.integers(0, 5, n)]
    weighting = JointWeighting(targets)
    sampler = FlexibleBatchSampler(weighting, 64, condition=condition, condition_balanced=True, seed=1)
    per_batch = np.stack(
        [
            [(condition[batch] == name).sum() for name in names]
            for epoch in range(8)
            for batch in sampler.epoch_batches(epoch)
        ]
    )
    assert set(np.unique(per_batch).tolist()) == {12, 13} and np.all(per_batch.sum(axis=1) == 64)
    assert_fits((per_batch == 13).sum(axis=0), np.ones(5))
    assert per_batch.mean(axis=0) == pytest.approx(np.full(5, 12.8), abs=0.1)
    shares = sampler.statistics()
    drawn = np.concatenate([sampler.epoch_batches(epoch).ravel() for epoch in range(8)])
    expected = sampler.probabilities()
    for name in names:
        assert expected[condition == name].sum() == pytest.approx(0.2)
        assert (condition[drawn] == name).mean() == pytest.approx(0.2, abs=0.005)
    assert shares.n == n


def test_condition_balanced_batches_without_experiment_aware_batches_balance_the_whole_pool(
    split: Split,
) -> None:
    weighting = JointWeighting(split.targets, task_alpha=0.5)
    sampler = FlexibleBatchSampler(
        weighting,
        40,
        experiment=split.experiment,  # passed for statistics only
        condition=split.condition,
        condition_balanced=True,
        condition_ratio={"human": 3, "rat": 1},
        seed=2,
    )
    batches = sampler.epoch_batches(0)
    assert {int((split.condition[b] == "rat").sum()) for b in batches} == {10}
    assert len({e for b in batches[:20] for e in split.experiment[b]}) == 4  # batches mix experiments
    stats = sampler.statistics()
    assert set(stats.experiment_shares) == {"A", "B", "C", "D"}
    assert sum(stats.experiment_shares.values()) == pytest.approx(1.0)


@pytest.mark.filterwarnings("ignore::admet_hpo.sampling.SmallCellWarning")
@pytest.mark.filterwarnings("ignore::admet_hpo.sampling.QualityShareWarning")
@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 1000), st.integers(8, 64), st.integers(1, 5), st.sampled_from(BATCH_MODES), st.booleans()
)
def test_ranks_partition_the_single_rank_sequence_with_equal_batch_counts(
    seed: int, batch_size: int, replicas: int, mode: dict, curriculum_on: bool
) -> None:
    split = make_split(n=700, seed=seed)
    curriculum = CurriculumState(QUALITIES, patience=1) if curriculum_on else None
    weighting = JointWeighting(split.targets, task_alpha=0.5, quality=split.quality, curriculum=curriculum)
    options = {"experiment": split.experiment, "condition": split.condition, "seed": seed, **mode}
    single = FlexibleBatchSampler(weighting, batch_size, **options).epoch_batches(2)
    ranks = [
        FlexibleBatchSampler(weighting, batch_size, num_replicas=replicas, rank=r, **options)
        for r in range(replicas)
    ]
    full = split.labelled.sum() // batch_size
    assert len(single) == full
    assert {len(r) for r in ranks} == {math.ceil(full / replicas)}
    per_rank = [r.epoch_batches(2) for r in ranks]
    assert all(len(b) == len(ranks[0]) for b in per_rank)
    interleaved = np.stack([per_rank[i % replicas][i // replicas] for i in range(len(ranks[0]) * replicas)])
    assert np.array_equal(interleaved[:full], single)
    for r, sampler in enumerate(ranks):
        sampler.set_epoch(2)
        assert list(sampler) == per_rank[r].tolist()
        assert len(list(sampler)) == len(sampler)


def test_all_off_is_a_plain_shuffled_batch_sampler_with_disjoint_rank_rows(split: Split) -> None:
    weighting = JointWeighting(split.targets)
    n = int(split.labelled.sum())
    single = FlexibleBatchSampler(weighting, 25, seed=8)
    rows = single.epoch_batches(1).ravel()
    assert len(single) == n // 25 and len(set(rows.tolist())) == rows.size
    assert np.array_equal(rows, JointSampler(weighting, seed=8).indices(1)[: rows.size])
    halves = [FlexibleBatchSampler(weighting, 25, seed=8, num_replicas=2, rank=r) for r in (0, 1)]
    if (n // 25) % 2 == 0:
        sets = [set(h.epoch_batches(1).ravel().tolist()) for h in halves]
        assert not sets[0] & sets[1] and sets[0] | sets[1] == set(rows.tolist())


@pytest.mark.parametrize("factor", ["task", "curriculum"])
def test_unstructured_batches_reproduce_the_single_strategy_joint_sampler(split: Split, factor: str) -> None:
    curriculum = CurriculumState(QUALITIES, patience=1) if factor == "curriculum" else None
    weighting = JointWeighting(
        split.targets,
        task_alpha=0.8 if factor == "task" else None,
        quality=split.quality,
        curriculum=curriculum,
    )
    batches = FlexibleBatchSampler(weighting, 16, seed=4).epoch_batches(3)
    assert np.array_equal(batches.ravel(), JointSampler(weighting, seed=4).indices(3)[: batches.size])


@pytest.mark.filterwarnings("ignore::admet_hpo.sampling.QualityShareWarning")
@pytest.mark.parametrize("mode", BATCH_MODES)
def test_a_fresh_sampler_resumed_at_any_epoch_reproduces_the_uninterrupted_run(
    split: Split, mode: dict
) -> None:
    losses = [1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8]  # plateaus move the curriculum on twice

    def fresh() -> FlexibleBatchSampler:
        weighting = JointWeighting(
            split.targets,
            task_alpha=0.5,
            quality=split.quality,
            curriculum=CurriculumState(QUALITIES, patience=2),
        )
        return FlexibleBatchSampler(
            weighting, 20, experiment=split.experiment, condition=split.condition, seed=3, **mode
        )

    running = fresh()
    uninterrupted, states = [], []
    for epoch, loss in enumerate(losses):
        states.append(running.curriculum.state_dict())
        running.set_epoch(epoch)
        uninterrupted.append(list(running))
        running.curriculum.update(epoch, loss)
    assert running.curriculum.phase_index == 2
    for start in range(len(losses)):
        resumed = fresh()
        resumed.curriculum.load_state_dict(states[start])
        for epoch in range(start, len(losses)):
            resumed.set_epoch(epoch)
            assert list(resumed) == uninterrupted[epoch], f"resumed at {start}, differs at epoch {epoch}"
            resumed.curriculum.update(epoch, losses[epoch])


@pytest.mark.parametrize("ratio", [{"human": 2, "rat": 1}, {"human": 1, "rat": 1}])
def test_probabilities_follow_the_spec_formula(split: Split, ratio: dict[str, int]) -> None:
    weighting = JointWeighting(split.targets, task_alpha=0.5)
    options = {"experiment_aware": True, "condition_balanced": True, "leaky": 0.25, "condition_ratio": ratio}
    sampler = FlexibleBatchSampler(
        weighting, 20, experiment=split.experiment, condition=split.condition, **options
    )
    w = sampler.weighting.row_weights()
    exp, cond = split.experiment, split.condition
    names = ["A", "B", "C", "D"]
    positive = {e: ((exp == e) & (w > 0)).sum() for e in names}
    pi = {e: positive[e] / sum(positive.values()) for e in names}
    mass = {e: w[exp == e].sum() for e in names}
    # 15 primary rows: 2:1 -> 10 / 5; 1:1 -> 7.5 each on average (the tie goes either way at random).
    quota = dict(
        zip(("human", "rat"), 15 * np.array(list(ratio.values())) / sum(ratio.values()), strict=True)
    )
    expected = np.zeros(len(w))
    for i in np.flatnonzero(w > 0):
        e, c = exp[i], cond[i]
        cell_mass = w[(exp == e) & (cond == c)].sum()
        expected[i] = pi[e] * quota[c] / 20 * w[i] / cell_mass
        expected[i] += sum(pi[o] * 5 / 20 * w[i] / (1.0 - mass[o]) for o in names if o != e)
    assert sampler.probabilities() == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert sampler.probabilities().sum() == pytest.approx(1.0)


def test_statistics_shares_match_the_batches_actually_drawn(split: Split) -> None:
    sampler = structured(split, batch_size=20, leaky=0.25)
    drawn = np.concatenate([sampler.epoch_batches(epoch).ravel() for epoch in range(20)])
    stats_ = sampler.statistics()
    for name, share in stats_.experiment_shares.items():
        assert (split.experiment[drawn] == name).mean() == pytest.approx(share, abs=0.03)
    for name, share in stats_.quality_shares.items():
        assert (split.quality[drawn] == name).mean() == pytest.approx(share, abs=0.02)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"experiment_aware": True, "experiment": None}, ValueError, "experiment labels are required"),
        ({"condition_balanced": True}, ValueError, "condition labels are required"),
        ({"leaky": 1.0}, ValueError, r"leaky must be in \[0, 1\)"),
        ({"num_replicas": 2, "rank": 2}, ValueError, "0 <= rank < num_replicas"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        (
            {"batch_size": 10_000},
            DataValidationError,
            r"batch_size 10000 exceeds the \d+ labelled training rows",
        ),
        (
            {"experiment_aware": True, "experiment_weights": {"A": 1.0, "B": 1.0}},
            ValueError,
            r"experiment_weights has no value for experiment\(s\) \['C', 'D'\]",
        ),
    ],
)
def test_bad_arguments_are_rejected_with_clear_messages(
    split: Split, kwargs: dict, error: type[Exception], message: str
) -> None:
    options = {"batch_size": 10, "experiment": split.experiment, **kwargs}
    with pytest.raises(error, match=message):
        FlexibleBatchSampler(JointWeighting(split.targets), **options)


def test_condition_ratio_must_cover_every_condition(split: Split) -> None:
    with pytest.raises(ValueError, match=r"condition_ratio has no value for condition\(s\) \['rat'\]"):
        structured(split, condition_ratio={"human": 1.0})


def test_missing_experiment_labels_on_labelled_rows_are_data_errors(split: Split) -> None:
    experiment = split.experiment.copy()
    row = int(np.flatnonzero(split.labelled)[7])
    experiment[row] = None
    with pytest.raises(
        DataValidationError,
        match=rf"experiment: 1 labelled row\(s\) have no experiment label; first rows \[{row}\]",
    ):
        FlexibleBatchSampler(JointWeighting(split.targets), 10, experiment=experiment, experiment_aware=True)


def test_leaky_batches_need_two_experiments(split: Split) -> None:
    one = np.full(len(split.labelled), "A", dtype=object)
    with pytest.raises(DataValidationError, match="at least two experiments"):
        FlexibleBatchSampler(
            JointWeighting(split.targets), 10, experiment=one, experiment_aware=True, leaky=0.1
        )


def test_options_of_switched_off_structures_warn(split: Split, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="admet_hpo.sampling.batch_sampler"):
        FlexibleBatchSampler(JointWeighting(split.targets), 10, leaky=0.2, condition_ratio={"human": 1})
    assert "['leaky', 'condition_ratio'] have no effect" in caplog.text


def test_a_torch_dataloader_yields_the_sampler_batches(split: Split) -> None:
    sampler = structured(split, batch_size=32)
    dataset = TensorDataset(torch.arange(len(split.labelled)))
    loader = DataLoader(dataset, batch_sampler=sampler)
    sampler.set_epoch(2)
    batches = [batch[0].tolist() for batch in loader]
    assert len(loader) == len(sampler) == len(batches)
    assert batches == sampler.epoch_batches(2).tolist()
