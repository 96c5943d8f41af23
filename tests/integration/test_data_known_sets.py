"""The public known sets built from the real files: label counts per task, experiment, condition and
quality checked against independent pandas computations on the raw files and the data README figures."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from admet_hpo.config.training import TrainingConfig
from admet_hpo.data.known.fetch import fetch_known
from admet_hpo.data.known.registry import KNOWN_DATASETS
from admet_hpo.data.known.sources import BIOGEN_FILE
from admet_hpo.data.loading import load_table
from admet_hpo.data.report import label_counts
from admet_hpo.data.table import MoleculeTable, TableSpec
from admet_hpo.data.training_data import load_training_data
from admet_hpo.errors import DataFetchError

pytestmark = pytest.mark.integration

BIOGEN_RAW = {  # raw column -> (target, condition)
    "LOG HLM_CLint (mL/min/kg)": ("HLM_CLint", "human"),
    "LOG MDR1-MDCK ER (B-A/A-B)": ("MDR1_ER", "physchem"),
    "LOG SOLUBILITY PH 6.8 (ug/mL)": ("solubility", "physchem"),
    "LOG PLASMA PROTEIN BINDING (HUMAN) (% unbound)": ("hPPB", "human"),
    "LOG PLASMA PROTEIN BINDING (RAT) (% unbound)": ("rPPB", "rat"),
    "LOG RLM_CLint (mL/min/kg)": ("RLM_CLint", "rat"),
}
AZ_RAW = {  # file -> (target, condition)
    "PPB_AZ-hPPB.csv": ("hPPB", "human"),
    "PPB_AZ-rPPB.csv": ("rPPB", "rat"),
    "PPB_AZ-dPPB.csv": ("dPPB", "dog"),
    "PPB_AZ-mPPB.csv": ("mPPB", "mouse"),
    "microsomal_AZ-hLM.csv": ("HLM_CLint_az", "human"),
    "hepatocyte_AZ-hH.csv": ("HH_CLint_az", "human"),
    "hepatocyte_AZ-rH.csv": ("RH_CLint_az", "rat"),
    "solubility_AZ-sol.csv": ("solubility", "physchem"),
    "lipophilicity_AZ-lipo.csv": ("logD", "physchem"),
}
# Values at an assay limit, from the data README: Biogen floors / ceilings and AstraZeneca assay limits.
BIOGEN_LOW = {"HLM_CLint": 958, "MDR1_ER": 0, "solubility": 4, "hPPB": 8, "rPPB": 6, "RLM_CLint": 346}
AZ_LOW = {
    "solubility": 6 + 14,
    "hPPB": 4,
    "rPPB": 2 + 2,
    "dPPB": 1 + 1,
    "mPPB": 2,
    "HLM_CLint_az": 287 + 84,
    "HH_CLint_az": 104 + 14,
    "RH_CLint_az": 117 + 127,
    "logD": 1 + 4,
}
FULL_SPEC = {"qualities": ("high", "medium", "low"), "require_experiment": True, "require_condition": True}


def raw_counts(shared: Path) -> pd.DataFrame:
    """Labels per (experiment, target, condition) straight from the raw files."""
    rows = []
    biogen = pd.read_csv(shared / BIOGEN_FILE.name)
    for column, (target, condition) in BIOGEN_RAW.items():
        rows.append(("biogen", target, condition, int(biogen[column].notna().sum())))
    for name, (target, condition) in AZ_RAW.items():
        frame = pd.read_csv(shared / name)
        rows.append(("astrazeneca", target, condition, int(frame.iloc[:, 0].notna().sum())))
    return pd.DataFrame(rows, columns=["experiment", "target", "condition", "labels"])


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def multisource(shared_data_dir: Path, cache: Path) -> MoleculeTable:
    path = fetch_known("adme_multisource", from_path=shared_data_dir, cache_dir=cache)
    return load_table(
        path, TableSpec(target_cols=KNOWN_DATASETS["adme_multisource"].target_cols, **FULL_SPEC)
    )


@pytest.fixture(scope="module")
def biogen_table(shared_data_dir: Path, cache: Path) -> MoleculeTable:
    path = fetch_known("biogen_adme", from_path=shared_data_dir / BIOGEN_FILE.name, cache_dir=cache)
    return load_table(path, TableSpec(target_cols=KNOWN_DATASETS["biogen_adme"].target_cols, **FULL_SPEC))


def counts_where(table: MoleculeTable, mask: np.ndarray) -> dict[str, int]:
    return label_counts(table, np.flatnonzero(mask))


def test_biogen_adme_counts_match_the_raw_file_and_readme(
    biogen_table: MoleculeTable, shared_data_dir
) -> None:
    expected = raw_counts(shared_data_dir).query("experiment == 'biogen'").set_index("target")["labels"]
    assert label_counts(biogen_table) == expected.to_dict()
    assert sum(label_counts(biogen_table).values()) == 11_318
    assert set(biogen_table.experiment) == {"biogen"}
    assert set(biogen_table.quality) == {"high", "low"}
    assert counts_where(biogen_table, biogen_table.quality == "low") == BIOGEN_LOW
    assert len(biogen_table.skipped) == 0


def test_biogen_values_are_the_raw_values_of_their_compound(shared_data_dir: Path, cache: Path) -> None:
    raw = pd.read_csv(shared_data_dir / BIOGEN_FILE.name).set_index("Internal ID")
    table = pd.read_csv(cache / "known" / "biogen_adme-v2.csv")
    assert table["compound"].str.removeprefix("biogen:").nunique() == 3521
    for column, (target, _) in BIOGEN_RAW.items():
        labelled = table[table[target].notna()]
        raw_values = raw.loc[labelled["compound"].str.removeprefix("biogen:"), column].to_numpy()
        np.testing.assert_array_equal(labelled[target].to_numpy(), raw_values)
    tautomers = table[table["compound"].isin(["biogen:Mol340", "biogen:Mol1460"])]
    assert tautomers.groupby("compound")["HLM_CLint"].first().round(3).to_dict() == {
        "biogen:Mol340": 1.028,
        "biogen:Mol1460": 0.962,
    }


def test_multisource_label_counts_per_task_experiment_and_condition(
    multisource: MoleculeTable, shared_data_dir
) -> None:
    raw = raw_counts(shared_data_dir)
    assert (
        label_counts(multisource)
        == raw.groupby("target")["labels"].sum().reindex(multisource.target_names).to_dict()
    )
    for experiment, rows in raw.groupby("experiment"):
        got = counts_where(multisource, multisource.experiment == experiment)
        assert {t: c for t, c in got.items() if c} == rows.groupby("target")["labels"].sum().to_dict()
    assert sum(counts_where(multisource, multisource.experiment == "astrazeneca").values()) == 11_041
    for condition, rows in raw.groupby("condition"):
        got = counts_where(multisource, multisource.condition == condition)
        assert {t: c for t, c in got.items() if c} == rows.groupby("target")["labels"].sum().to_dict()
    assert set(multisource.condition) == {"human", "rat", "dog", "mouse", "physchem"}


def test_multisource_quality_counts_follow_the_readme(multisource: MoleculeTable) -> None:
    expected_low = {t: BIOGEN_LOW.get(t, 0) + AZ_LOW.get(t, 0) for t in multisource.target_names}
    assert counts_where(multisource, multisource.quality == "low") == expected_low
    medium = counts_where(multisource, multisource.quality == "medium")
    assert medium == {t: (1763 - 20 if t == "solubility" else 0) for t in multisource.target_names}
    assert set(multisource.experiment[multisource.quality == "medium"]) == {"astrazeneca"}


# The same limits by side: "<" at a floor, ">" at a ceiling (data README).
BIOGEN_SIDES = {
    "HLM_CLint": (958, 0),
    "solubility": (4, 0),
    "hPPB": (0, 8),
    "rPPB": (0, 6),
    "RLM_CLint": (346, 0),
}
AZ_SIDES = {
    "solubility": (6, 14),
    "hPPB": (4, 0),
    "rPPB": (2, 2),
    "dPPB": (1, 1),
    "mPPB": (2, 0),
    "HLM_CLint_az": (287, 84),
    "HH_CLint_az": (104, 14),
    "RH_CLint_az": (117, 127),
    "logD": (1, 4),
}


def test_multisource_marks_its_assay_limits_as_bounds_when_asked(
    multisource: MoleculeTable, shared_data_dir: Path, cache: Path
) -> None:
    assert multisource.censoring is None  # not asked: the modifier columns are ignored
    path = fetch_known("adme_multisource", from_path=shared_data_dir, cache_dir=cache)
    spec = TableSpec(
        target_cols=KNOWN_DATASETS["adme_multisource"].target_cols,
        qualifier_cols={t: f"{t} modifier" for t in KNOWN_DATASETS["adme_multisource"].target_cols},
        **FULL_SPEC,
    )
    bounded = load_table(path, spec)
    np.testing.assert_array_equal(bounded.targets, multisource.targets)
    for j, target in enumerate(bounded.target_names):
        lt, gt = (int((bounded.censoring[:, j] == code).sum()) for code in (-1, 1))
        expected = np.add(BIOGEN_SIDES.get(target, (0, 0)), AZ_SIDES.get(target, (0, 0))).tolist()
        assert [lt, gt] == expected, target
    # every bound sits in a 'low' record, and every 'low' label is a bound
    assert set(bounded.quality[bounded.censored.any(axis=1)]) == {"low"}
    assert (
        bounded.censored[bounded.quality == "low"].sum()
        == np.isfinite(bounded.targets[bounded.quality == "low"]).sum()
    )
    assert bounded.content_hash != multisource.content_hash


def test_each_record_carries_only_its_conditions_targets(multisource: MoleculeTable) -> None:
    condition_of = {target: condition for target, condition in BIOGEN_RAW.values()}
    condition_of.update({target: condition for target, condition in AZ_RAW.values()})
    labelled = ~np.isnan(multisource.targets)
    for j, target in enumerate(multisource.target_names):
        assert set(multisource.condition[labelled[:, j]]) == {condition_of[target]}, target
    assert labelled.any(axis=1).all()


def test_multisource_az_compounds_and_converted_solubility(shared_data_dir: Path, cache: Path) -> None:
    table = pd.read_csv(cache / "known" / "adme_multisource-v2.csv")
    az = table[table["experiment"] == "astrazeneca"]
    assert az["compound"].nunique() == 5_695  # README: union of the nine files by InChIKey
    raw = pd.read_csv(shared_data_dir / "solubility_AZ-sol.csv")
    weights = raw["canonical_smiles"].map(lambda s: Descriptors.MolWt(Chem.MolFromSmiles(s)))
    expected = np.sort(raw["logS"] + np.log10(weights) + 3.0)
    np.testing.assert_allclose(np.sort(az["solubility"].dropna()), expected, rtol=0, atol=1e-9)
    hppb = pd.read_csv(shared_data_dir / "PPB_AZ-hPPB.csv")["log_pct_unbound"]
    np.testing.assert_array_equal(np.sort(az["hPPB"].dropna()), np.sort(hppb))
    censored = az[az["quality"] == "low"]
    assert (
        np.isclose(censored["HLM_CLint_az"].dropna(), [math.log10(3), math.log10(150)][0], atol=1e-9).sum()
        == 287
    )


def test_multisource_split_keeps_molecules_whole_and_trains_every_task(multisource, cache: Path) -> None:
    config = TrainingConfig.model_validate(
        {
            "data": {"dataset": "adme_multisource"},
            "sampling": {"curriculum": {"enabled": True}, "batches": {"experiment_aware": True}},
        }
    )
    table, split = load_training_data(config, cache_dir=cache)
    assert table.content_hash == multisource.content_hash
    part = np.empty(len(table), dtype=np.int8)
    for k, rows in enumerate((split.train, split.val, split.test)):
        part[rows] = k
    key_of = {s: Chem.MolToInchiKey(Chem.MolFromSmiles(s)) for s in set(table.smiles)}
    keys = pd.Series([key_of[s] for s in table.smiles])
    assert (pd.Series(part).groupby(keys).nunique() == 1).all()
    assert min(label_counts(table, split.train).values()) > 0
    assert abs(len(split.train) / len(table) - 0.8) < 0.02


def test_parquet_copy_has_the_same_content_hash(
    multisource: MoleculeTable, cache: Path, tmp_path: Path
) -> None:
    parquet = tmp_path / "multisource.parquet"
    pd.read_csv(cache / "known" / "adme_multisource-v2.csv").to_parquet(parquet)
    spec = TableSpec(target_cols=multisource.target_names, **FULL_SPEC)
    assert load_table(parquet, spec).content_hash == multisource.content_hash


def test_multisource_from_path_names_a_missing_or_changed_file(shared_data_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "sources"
    shutil.copytree(shared_data_dir, copy)
    (copy / "hepatocyte_AZ-rH.csv").chmod(0o644)
    (copy / "hepatocyte_AZ-rH.csv").write_text("LOG RH_CLint (uL/min/1E6 cells),canonical_smiles\n1.0,CCO\n")
    with pytest.raises(DataFetchError, match=r"hepatocyte_AZ-rH\.csv: sha256 .* does not match the pinned"):
        fetch_known("adme_multisource", from_path=copy, cache_dir=tmp_path / "cache")
    (copy / "hepatocyte_AZ-rH.csv").unlink()
    with pytest.raises(DataFetchError, match=r"sources: hepatocyte_AZ-rH\.csv not found"):
        fetch_known("adme_multisource", from_path=copy, cache_dir=tmp_path / "cache")


def test_biogen_download_path_checks_and_builds(
    shared_data_dir: Path, biogen_table: MoleculeTable, cache: Path, tmp_path: Path, monkeypatch
) -> None:
    dataset = KNOWN_DATASETS["biogen_adme"]
    local_url = (shared_data_dir / BIOGEN_FILE.name).resolve().as_uri()
    monkeypatch.setitem(
        KNOWN_DATASETS, "biogen_adme", replace(dataset, sources=(replace(BIOGEN_FILE, url=local_url),))
    )
    path = fetch_known("biogen_adme", cache_dir=tmp_path)
    assert (tmp_path / "downloads" / BIOGEN_FILE.name).read_bytes() == (
        shared_data_dir / BIOGEN_FILE.name
    ).read_bytes()
    assert path.read_bytes() == (cache / "known" / "biogen_adme-v2.csv").read_bytes()
