"""Per-endpoint benchmark splits: a molecule's records in different parts train with the opt-in only."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from admet_hpo.config.loading import validate_mapping
from admet_hpo.config.training import TrainingConfig
from admet_hpo.data.known.fetch import fetch_known
from admet_hpo.errors import DataValidationError
from admet_hpo.training.run import train

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def per_endpoint_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One record per (molecule, endpoint), each endpoint split on its own: many molecules cross parts."""
    folder = tmp_path_factory.mktemp("per-endpoint")
    demo = pd.read_csv(fetch_known("demo", cache_dir=folder)).drop_duplicates("smiles").head(240)
    rng = np.random.default_rng(7)
    parts = []
    for endpoint in ("logD", "solubility"):
        records = demo[["smiles", endpoint]].dropna().copy()
        records["split"] = rng.choice(["train", "val", "test"], size=len(records), p=[0.7, 0.15, 0.15])
        parts.append(records)
    path = folder / "per_endpoint.csv"
    pd.concat(parts, ignore_index=True).to_csv(path, index=False)
    return path


def config(table: Path, output_dir: Path, may_cross: bool) -> TrainingConfig:
    raw = {
        "data": {"path": str(table), "target_cols": ["logD", "solubility"], "split_col": "split"},
        "split": {"method": "column", "molecules_may_cross": may_cross},
        "model": {"message_hidden_dim": 16, "depth": 2, "ffn_hidden_dim": 16},
        "optim": {"warmup_epochs": 1},
        "trainer": {"max_epochs": 2, "early_stopping_patience": None, "progress_bar": False},
        "output_dir": str(output_dir),
    }
    return validate_mapping(TrainingConfig, raw, source="test")


def test_per_endpoint_split_is_refused_without_the_opt_in(per_endpoint_table: Path, tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"molecule\(s\) with records in more than one split"):
        train(config(per_endpoint_table, tmp_path, may_cross=False))


def test_per_endpoint_split_trains_with_the_opt_in_and_warns(
    per_endpoint_table: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    table = pd.read_csv(per_endpoint_table)
    crossing = int((table.groupby("smiles")["split"].nunique() > 1).sum())
    assert crossing > 10, "the fixture must have molecules in two parts"
    with caplog.at_level(logging.WARNING, logger="admet_hpo.data.splits"):
        result = train(config(per_endpoint_table, tmp_path, may_cross=True))
    assert f"{crossing} molecule(s) have records in more than one split" in caplog.text
    assert result.epochs_run == 2
    assert set(result.test_metrics) == {"logD", "solubility"}
    assert sum(m.n for m in result.test_metrics.values()) == int((table["split"] == "test").sum())
