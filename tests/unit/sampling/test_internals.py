"""Building blocks of the fast draws: grouped inverse-CDF categorical, class layout, occurrence ranks."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from admet_hpo.sampling.categorical import GroupedCategorical
from admet_hpo.sampling.grouping import ClassLayout, occurrence_rank


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.one_of(st.just(0.0), st.floats(1e-9, 1e6)), max_size=9), min_size=1, max_size=6),
    st.integers(0, 10_000),
)
def test_grouped_draws_equal_a_per_group_searchsorted(groups: list[list[float]], seed: int) -> None:
    masses = np.array([m for group in groups for m in group])
    starts = np.concatenate(([0], np.cumsum([len(g) for g in groups])))
    categorical = GroupedCategorical(masses, starts)
    drawable = [g for g, group in enumerate(groups) if sum(group) > 0]
    if not drawable:
        return
    rng = np.random.default_rng(seed)
    chosen = rng.choice(drawable, 500)
    u = rng.random(500)
    u[:3] = [0.0, np.nextafter(1.0, 0.0), 0.5]
    drawn = categorical.draw(chosen, u)
    for group, x, k in zip(chosen, u, drawn, strict=True):
        cdf = categorical.cdf[starts[group] : starts[group + 1]]
        assert k == starts[group] + np.searchsorted(cdf, x, side="right")
        assert masses[k] > 0
    for group in drawable:
        cdf = categorical.cdf[starts[group] : starts[group + 1]]
        reference = np.cumsum(groups[group]) / np.sum(groups[group])
        assert np.allclose(cdf, reference, rtol=0, atol=1e-12)
        last_positive = len(groups[group]) - 1 - int(np.argmax(np.asarray(groups[group])[::-1] > 0))
        assert (cdf[last_positive:] == 1.0).all()


def test_draw_frequencies_follow_the_masses() -> None:
    categorical = GroupedCategorical(np.array([1.0, 0.0, 3.0, 5.0, 5.0]), np.array([0, 3, 5]))
    rng = np.random.default_rng(0)
    drawn = categorical.draw(np.repeat([0, 1], 50_000), rng.random(100_000))
    counts = np.bincount(drawn, minlength=5)
    assert counts[1] == 0
    assert abs(counts[0] / 50_000 - 0.25) < 0.01 and abs(counts[3] / 50_000 - 0.5) < 0.01


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
