"""invert_transform undoes apply_transform (offset, log10, negate); the floor clip is the one exception."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from admet_hpo.config.training import TargetTransformConfig
from admet_hpo.data.transforms import apply_transform, invert_transform


@given(
    values=st.lists(st.floats(0.01, 1e4), min_size=1, max_size=20),
    offset=st.floats(0.0, 10.0),
    log10=st.booleans(),
    negate=st.booleans(),
)
def test_invert_undoes_apply(values: list[float], offset: float, log10: bool, negate: bool) -> None:
    transform = TargetTransformConfig(offset=offset, log10=log10, negate=negate)
    raw = np.array(values)
    modelled, _, invalid = apply_transform(transform, raw, np.zeros(raw.shape, dtype=np.int8))
    assert not invalid.any()
    np.testing.assert_allclose(invert_transform(transform, modelled), raw, rtol=1e-9, atol=1e-9)


def test_the_floor_clip_is_not_undone_and_nan_stays_nan() -> None:
    transform = TargetTransformConfig(log10=True, floor=0.1, negate=True)
    modelled, _, _ = apply_transform(transform, np.array([0.0, 5.0, np.nan]), np.zeros(3, dtype=np.int8))
    back = invert_transform(transform, modelled)
    np.testing.assert_allclose(back[:2], [0.1, 5.0])
    assert np.isnan(back[2])


def test_an_overflowing_power_is_infinite_without_a_warning() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isinf(invert_transform(TargetTransformConfig(log10=True), np.array([400.0]))).all()
