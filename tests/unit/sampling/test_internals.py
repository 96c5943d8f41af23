"""Building blocks of the draws: systematic counts, random matchings, quality fit, quotas, class layout."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from admet_hpo.sampling.allocation import shuffled_within_groups, systematic_counts
from admet_hpo.sampling.balance import fit_quality_shares
from admet_hpo.sampling.grouping import ClassLayout, occurrence_rank
from admet_hpo.sampling.quotas import expected_largest_remainder, largest_remainder

from .synthetic import assert_fits

expected_groups = st.lists(
    st.lists(st.one_of(st.just(0.0), st.floats(0.0, 50.0)), min_size=1, max_size=8), min_size=1, max_size=5
)


def _grouped(groups: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat expected counts rescaled so that every group sums to an integer, its starts and totals."""
    totals = np.array([round(sum(g)) for g in groups], dtype=np.int64)
    scaled = [
        np.asarray(g) * (t / sum(g)) if sum(g) > 0 else np.zeros(len(g))
        for g, t in zip(groups, totals, strict=True)
    ]
    totals = np.where([sum(g) > 0 for g in groups], totals, 0)
    starts = np.concatenate(([0], np.cumsum([len(g) for g in groups])))
    return np.concatenate(scaled), starts, totals


@settings(max_examples=150, deadline=None)
@given(expected_groups, st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=5, max_size=5))
def test_systematic_counts_are_floor_or_ceiling_and_sum_to_each_total(
    groups: list[list[float]], u: list[float]
) -> None:
    expected, starts, totals = _grouped(groups)
    counts = systematic_counts(expected, starts, totals, np.array(u[: len(groups)]))
    assert np.all(counts >= np.floor(expected - 1e-9)) and np.all(counts <= np.ceil(expected + 1e-9))
    assert [int(counts[a:b].sum()) for a, b in itertools.pairwise(starts)] == totals.tolist()
    assert np.all(counts[expected == 0] == 0)


def test_systematic_counts_reproduce_integer_expectations_and_are_unbiased() -> None:
    integer = np.array([3.0, 0.0, 5.0, 1.0])
    for u in (0.0, 0.3, np.nextafter(1.0, 0.0)):
        assert systematic_counts(integer, np.array([0, 4]), np.array([9]), np.array([u])).tolist() == [
            3,
            0,
            5,
            1,
        ]
    expected = np.array([0.25, 1.5, 2.25])  # one group of 4 draws
    rng = np.random.default_rng(0)
    draws = np.stack(
        [systematic_counts(expected, np.array([0, 3]), np.array([4]), rng.random(1)) for _ in range(20_000)]
    )
    # Mean within 4 standard errors of the expectation (each count is a shifted Bernoulli).
    spread = np.sqrt((expected % 1) * (1 - expected % 1) / len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - expected) <= 4 * spread + 1e-12)


@settings(max_examples=60, deadline=None)
@given(arrays(np.int64, st.integers(1, 80), elements=st.integers(0, 4)), st.integers(0, 1000))
def test_shuffled_within_groups_is_a_matching_inside_every_group(slot_group: np.ndarray, seed: int) -> None:
    values = np.concatenate([np.arange((slot_group == g).sum()) + 100 * g for g in range(5)])
    out = shuffled_within_groups(values, slot_group, np.random.default_rng(seed))
    for g in range(5):
        assert sorted(out[slot_group == g].tolist()) == sorted(values[values // 100 == g].tolist())


def test_shuffled_within_groups_orders_uniformly_at_random() -> None:
    rng = np.random.default_rng(1)
    first = [
        int(shuffled_within_groups(np.arange(4), np.zeros(4, dtype=np.int64), rng)[0]) for _ in range(8000)
    ]
    assert_fits(np.bincount(first, minlength=4), np.ones(4))


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 4)), elements=st.floats(0.0, 10.0)),
    st.integers(0, 1000),
)
def test_quality_fit_keeps_cell_shares_zeros_and_meets_feasible_targets(
    seed: np.ndarray, rng_seed: int
) -> None:
    seed = seed + 0.1  # strictly positive: every target is feasible
    rng = np.random.default_rng(rng_seed)
    share = rng.dirichlet(np.ones(seed.shape[0]))
    target = rng.dirichlet(np.ones(seed.shape[1]))
    seed[0, 0] = 0.0  # a cell without quality 0 keeps none
    fit = fit_quality_shares(share[:, None] * seed / seed.sum(axis=1, keepdims=True), share, target)
    assert fit.mix.sum(axis=1) == pytest.approx(np.ones(seed.shape[0]))
    assert fit.mix[0, 0] == 0.0
    if seed.shape[0] > 1 or target[0] == pytest.approx(0.0):
        assert (share[:, None] * fit.mix).sum(axis=0) == pytest.approx(fit.achieved)
    feasible = seed.shape[0] > 1 and share[0] < 1 - target[0]
    if feasible and share[0] < 0.5:
        # IPF converges linearly, slowly near the feasibility boundary: MAX_SWEEPS bounds it at ~1e-6
        assert fit.achieved == pytest.approx(target, abs=1e-5)


def test_quality_fit_of_an_infeasible_target_keeps_cell_shares_and_gets_closest() -> None:
    # Cell 0 (60% of slots) only has quality 0: quality 0 cannot go below 0.6.
    seed = np.array([[1.0, 0.0], [0.5, 0.5]])
    share = np.array([0.6, 0.4])
    fit = fit_quality_shares(share[:, None] * seed, share, np.array([0.3, 0.7]))
    assert fit.mix[0].tolist() == [1.0, 0.0]
    assert fit.achieved == pytest.approx([0.6, 0.4], abs=1e-3)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 200), st.lists(st.floats(0.0, 10.0), min_size=1, max_size=6), st.integers(0, 1000))
def test_random_tie_orders_keep_quotas_exact_and_average_to_the_expected_quotas(
    total: int, ratios: list[float], seed: int
) -> None:
    r = np.array(ratios)
    rng = np.random.default_rng(seed)
    quotas = largest_remainder(total, np.tile(r, (400, 1)), rng.random((400, r.size)))
    if r.sum() == 0:
        assert not quotas.any()
        return
    assert np.all(quotas.sum(axis=1) == total)
    assert np.all(np.abs(quotas - total * r / r.sum()) < 1)
    expected = expected_largest_remainder(total, r)
    assert expected.sum() == pytest.approx(total)
    assert np.all(np.abs(quotas.mean(axis=0) - expected) <= 4 * 0.5 / np.sqrt(400) + 1e-9)


def test_ties_go_to_every_condition_equally_often() -> None:
    """Batch 64 over five equal conditions: 12.8 each; every condition gets 13 in 4 of 5 batches."""
    rng = np.random.default_rng(2)
    quotas = largest_remainder(64, np.ones((20_000, 5)), rng.random((20_000, 5)))
    assert set(np.unique(quotas).tolist()) == {12, 13}
    assert_fits((quotas == 13).sum(axis=0), np.ones(5))
    assert quotas.mean(axis=0) == pytest.approx(np.full(5, 12.8), abs=0.02)
    fixed = largest_remainder(64, np.ones(5))
    assert fixed.tolist() == [13, 13, 13, 13, 12]  # without keys the lower index wins (old behaviour)
    assert expected_largest_remainder(64, np.ones(5)) == pytest.approx(np.full(5, 12.8))


@settings(max_examples=60, deadline=None)
@given(arrays(np.int64, st.integers(0, 200), elements=st.integers(0, 7)))
def test_occurrence_rank_counts_earlier_equal_values(values: np.ndarray) -> None:
    expected = [int((values[:i] == v).sum()) for i, v in enumerate(values)]
    assert occurrence_rank(values, 8).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(arrays(np.int64, st.integers(1, 100), elements=st.integers(0, 9)), st.integers(0, 100))
def test_class_layout_groups_member_rows_and_streams_permute_within_classes(
    keys: np.ndarray, seed: int
) -> None:
    member = np.random.default_rng(seed).random(keys.size) < 0.7
    layout = ClassLayout.from_keys(keys, 10, member)
    assert layout.keys.tolist() == sorted(set(keys[member].tolist()))
    for k, key in enumerate(layout.keys):
        rows = layout.rows[layout.starts[k] : layout.starts[k] + layout.sizes[k]]
        assert rows.tolist() == np.flatnonzero(member & (keys == key)).tolist()
    assert (layout.class_of_row[~member] == -1).all()
    streams = layout.shuffled_rows(np.random.default_rng(seed))
    for k in range(layout.n_classes):
        part = slice(layout.starts[k], layout.starts[k] + layout.sizes[k])
        assert sorted(streams[part].tolist()) == layout.rows[part].tolist()
