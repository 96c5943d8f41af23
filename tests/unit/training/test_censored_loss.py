"""The censored loss, the training view of each ``censored`` mode, and the bound agreement metrics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from chemprop.data import collate_batch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from admet_hpo.data.datasets import build_molecule_dataset
from admet_hpo.data.featurize import FeatureCache
from admet_hpo.data.table import MoleculeTable
from admet_hpo.training.bound_metrics import bound_agreement, flatten_bound_agreement
from admet_hpo.training.censoring import training_criterion, training_view
from admet_hpo.training.metrics import per_task_metrics
from admet_hpo.training.model import fit_target_scaler

values = st.floats(min_value=-5, max_value=5, allow_nan=False, width=32)


def loss_and_grad(mode: str, preds, targets, codes, mask=None) -> tuple[float, np.ndarray]:
    """The criterion's value on one batch and its gradient with respect to the predictions."""
    preds = torch.tensor(np.asarray(preds, dtype=np.float32), requires_grad=True)
    targets = torch.tensor(np.asarray(targets, dtype=np.float32))
    codes = np.asarray(codes)
    mask = torch.ones_like(targets, dtype=torch.bool) if mask is None else torch.tensor(mask)
    weights = torch.ones(targets.shape[0], 1)
    lt, gt = torch.tensor(codes < 0), torch.tensor(codes > 0)
    loss = training_criterion(mode)(preds, targets, mask, weights, lt, gt)
    loss.backward()
    return float(loss.detach()), preds.grad.numpy()


@given(pred=values, bound=values, code=st.sampled_from([-1, 1]))
def test_a_bound_costs_nothing_on_its_side_and_the_squared_excess_beyond_it(
    pred: float, bound: float, code: int
) -> None:
    loss, grad = loss_and_grad("loss", [[pred]], [[bound]], [[code]])
    excess = max((pred - bound) * -code, 0.0)  # how far the prediction is on the wrong side
    assert loss == pytest.approx(excess**2, rel=1e-5, abs=1e-6)
    if excess == 0:
        assert loss == 0.0
        assert grad[0, 0] == 0.0
    else:
        assert grad[0, 0] == pytest.approx(2 * (pred - bound), rel=1e-4, abs=1e-5)


@given(bound=values, excess=st.floats(min_value=0.01, max_value=3), code=st.sampled_from([-1, 1]))
def test_the_penalty_grows_quadratically_with_the_excess(bound: float, excess: float, code: int) -> None:
    one, _ = loss_and_grad("loss", [[bound - code * excess]], [[bound]], [[code]])
    two, _ = loss_and_grad("loss", [[bound - code * 2 * excess]], [[bound]], [[code]])
    assert two == pytest.approx(4 * one, rel=1e-3)


batch = st.integers(min_value=1, max_value=6).flatmap(
    lambda n: st.tuples(
        arrays(np.float32, (n, 3), elements=values),
        arrays(np.float32, (n, 3), elements=values),
        arrays(np.int8, (n, 3), elements=st.sampled_from([-1, 0, 1])),
        arrays(np.bool_, (n, 3), elements=st.booleans()),
    )
)


@settings(max_examples=60)
@given(batch=batch)
def test_loss_is_the_masked_mean_of_mse_on_exact_cells_and_one_sided_terms_on_bounds(batch) -> None:
    preds, targets, codes, mask = batch
    if not mask.any():
        mask[0, 0] = True
    loss, _ = loss_and_grad("loss", preds, targets, codes, mask)
    error = preds.astype(float) - targets
    terms = np.where(codes < 0, np.maximum(error, 0), np.where(codes > 0, np.minimum(error, 0), error)) ** 2
    assert loss == pytest.approx(terms[mask].mean(), rel=1e-4, abs=1e-5)
    exact_only, _ = loss_and_grad("loss", preds, targets, np.zeros_like(codes), mask)
    plain_mse, _ = loss_and_grad("as_exact", preds, targets, codes, mask)
    assert exact_only == pytest.approx(plain_mse, rel=1e-5, abs=1e-6)
    assert plain_mse == pytest.approx((error[mask] ** 2).mean(), rel=1e-4, abs=1e-5)


def bounded_table() -> MoleculeTable:
    """Four molecules, two tasks; a '<' and a '>' cell, one missing cell."""
    return MoleculeTable(
        source="t.csv",
        smiles=np.array(["CCO", "CCN", "CCC", "c1ccccc1"], dtype=object),
        targets=np.array([[1.0, 10.0], [2.0, np.nan], [3.0, 30.0], [0.5, 40.0]]),
        target_names=("a", "b"),
        lines=np.arange(2, 6),
        quality=np.array(["high", "high", "medium", "high"], dtype=object),
        censoring=np.array([[0, 0], [-1, 0], [0, 1], [0, 0]], dtype=np.int8),
    )


def test_bounds_reach_the_batch_standardised_with_their_values_and_masked_by_side() -> None:
    table = bounded_table()
    dataset = build_molecule_dataset(table, np.arange(4), FeatureCache(persist=False))
    scaler = fit_target_scaler(table.targets)
    dataset.normalize_targets(scaler)
    batch = collate_batch([dataset[i] for i in range(4)])
    expected = (table.targets - scaler.mean_) / scaler.scale_
    np.testing.assert_allclose(batch.Y.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(batch.lt_mask.numpy(), table.censoring < 0)
    np.testing.assert_array_equal(batch.gt_mask.numpy(), table.censoring > 0)


def test_training_view_of_each_mode() -> None:
    table = bounded_table()
    kept = training_view(table, "loss", None)
    assert kept.censoring is table.censoring and kept.targets is table.targets
    exact = training_view(table, "as_exact", "low")
    assert exact.censoring is None
    np.testing.assert_array_equal(exact.targets, table.targets)
    assert exact.quality.tolist() == ["high", "low", "low", "high"]
    dropped = training_view(table, "drop", "low")
    assert dropped.censoring is None
    assert np.isnan(dropped.targets[1, 0]) and np.isnan(dropped.targets[2, 1])
    assert np.isfinite(dropped.targets).sum() == np.isfinite(table.targets).sum() - 2
    assert dropped.quality.tolist() == table.quality.tolist()  # nothing censored is left to map
    assert training_view(table, "loss", None).quality.tolist() == table.quality.tolist()


def test_regression_metrics_skip_bounds_and_bound_agreement_counts_the_sides() -> None:
    y_true = np.array([[1.0, 5.0], [2.0, 6.0], [3.0, np.nan], [4.0, 8.0]])
    y_pred = np.array([[1.5, 4.0], [1.0, 7.0], [9.0, 0.0], [3.0, 9.0]])
    codes = np.array([[0, -1], [-1, 1], [0, 0], [1, -1]], dtype=np.int8)
    metrics = per_task_metrics(y_true, y_pred, ("a", "b"), censoring=codes)
    assert metrics["a"].n == 2 and metrics["a"].mae == pytest.approx((0.5 + 6.0) / 2)
    assert metrics["b"].n == 0
    agreement = bound_agreement(y_true, y_pred, codes, ("a", "b"))
    # a: '<2' predicted 1 (right side), '>4' predicted 3 (wrong side)
    assert (agreement["a"].n_lt, agreement["a"].n_gt) == (1, 1)
    assert (agreement["a"].lt_agreement, agreement["a"].gt_agreement, agreement["a"].agreement) == (
        1.0,
        0.0,
        0.5,
    )
    # b: '<5' -> 4 right, '>6' -> 7 right, '<8' -> 9 wrong
    assert (agreement["b"].n_lt, agreement["b"].n_gt) == (2, 1)
    assert agreement["b"].lt_agreement == 0.5 and agreement["b"].gt_agreement == 1.0
    assert agreement["b"].agreement == pytest.approx(2 / 3)
    assert agreement["a"].excess == pytest.approx((0 + 1.0) / 2)  # '>4' predicted 3: 1 below
    assert agreement["b"].excess == pytest.approx((0 + 0 + 1.0) / 3)  # '<8' predicted 9: 1 above
    flat = flatten_bound_agreement(agreement, "test")
    assert flat == {
        "test/a/bound_agreement": 0.5,
        "test/b/bound_agreement": pytest.approx(2 / 3),
        "test/mean_bound_agreement": pytest.approx((0.5 + 2 / 3) / 2),
    }


def test_a_task_without_bounds_has_nan_shares_and_no_flat_keys() -> None:
    y = np.array([[1.0], [2.0]])
    agreement = bound_agreement(y, y, np.zeros((2, 1), dtype=np.int8), ("a",))
    assert agreement["a"].n_lt == agreement["a"].n_gt == 0 and np.isnan(agreement["a"].agreement)
    assert np.isnan(agreement["a"].excess)
    assert flatten_bound_agreement(agreement, "val") == {}
    with pytest.raises(ValueError, match="shape mismatch"):
        bound_agreement(y, y, np.zeros((2, 2), dtype=np.int8), ("a",))


def test_drop_with_a_task_censored_in_every_training_row_is_a_data_error(tmp_path) -> None:
    from admet_hpo.config.loading import validate_mapping
    from admet_hpo.config.training import TrainingConfig
    from admet_hpo.data.table import SplitIndices
    from admet_hpo.errors import DataValidationError
    from admet_hpo.training.run import train

    table = bounded_table()
    table = dataclasses.replace(table, censoring=np.array([[0, 1], [-1, 0], [0, 1], [0, 0]], dtype=np.int8))
    split = SplitIndices(np.array([0, 1, 2]), np.array([3]), np.array([], dtype=np.int64), "h")
    raw = {
        "data": {"path": "t.csv", "target_cols": ["a", "b"]},
        "censored": "drop",
        "output_dir": str(tmp_path),
    }
    config = validate_mapping(TrainingConfig, raw, source="c.yaml")
    with pytest.raises(
        DataValidationError,
        match=r"t\.csv: target column\(s\) 'b' .* no labels in the training split .*use 'censored: loss'",
    ):
        train(config, data=(table, split))
