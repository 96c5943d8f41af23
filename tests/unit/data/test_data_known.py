"""Known data sets: the demo builder, record packing, the cache and the source-file checks (no network)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from admet_hpo.data.known import demo
from admet_hpo.data.known.fetch import ensure_known_table, fetch_known, known_table_path
from admet_hpo.data.known.records import CELL_COLUMNS, Endpoint, endpoint_cells, pack_records
from admet_hpo.data.known.registry import KNOWN_DATASETS, get_known
from admet_hpo.data.known.sources import SourceFile, download_source, local_source
from admet_hpo.data.storage import CACHE_ENV_VAR, resolve_cache_dir
from admet_hpo.errors import DataFetchError


@pytest.fixture(scope="module")
def demo_frame() -> pd.DataFrame:
    return demo.build_demo()


def test_demo_is_deterministic(demo_frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(demo.build_demo(), demo_frame)


def test_demo_shape_sparsity_and_groups(demo_frame: pd.DataFrame) -> None:
    n = len(demo_frame)
    assert 300 <= n <= 1500
    labels = demo_frame[list(demo.TARGETS)].notna()
    assert labels.any(axis=1).all(), "every record needs a label"
    shares = labels.mean()
    assert 0.02 <= shares["toxicity"] <= 0.08
    assert shares["logD"] > 0.6 and shares.min() == shares["toxicity"]
    assert demo_frame["experiment"].nunique() >= 3
    assert demo_frame["condition"].nunique() >= 2
    assert set(demo_frame["quality"]) == {"high", "medium", "low"}
    assert demo_frame.groupby("compound")["condition"].nunique().max() == 2, "some molecules have two species"


def test_demo_molecules_are_small_distinct_and_parse(demo_frame: pd.DataFrame) -> None:
    molecules = demo_frame.drop_duplicates("compound")["smiles"]
    mols = [Chem.MolFromSmiles(s) for s in molecules]
    assert all(m is not None for m in mols)
    assert max(m.GetNumHeavyAtoms() for m in mols) <= 24
    assert len({Chem.MolToSmiles(m) for m in mols}) == len(molecules)


def test_demo_low_quality_labels_are_noisier(demo_frame: pd.DataFrame) -> None:
    from rdkit.Chem import Crippen

    logp = demo_frame["smiles"].map(lambda s: Crippen.MolLogP(Chem.MolFromSmiles(s)))
    residual = demo_frame["logD"] - 0.8 * logp
    spread = residual.groupby(demo_frame["quality"]).std()
    assert spread["high"] < spread["medium"] < spread["low"]


def test_endpoint_cells_mark_censored_values_low_and_convert_after() -> None:
    endpoint = Endpoint(
        "t",
        "col",
        "human",
        floors=(0.0,),
        ceilings=(2.0,),
        in_range_quality="medium",
        convert=lambda v, s: v * 10,
    )
    cells = endpoint_cells(
        np.array(["a", "b", "c", "d"], dtype=object),
        np.array(["C", "CC", "CCC", "CCCC"], dtype=object),
        np.array([0.0, 1.0, np.nan, 2.0]),
        "lab",
        endpoint,
    )
    assert list(cells.columns) == list(CELL_COLUMNS)
    assert cells["compound"].tolist() == ["a", "b", "d"]
    assert cells["quality"].tolist() == ["low", "medium", "low"]
    assert cells["value"].tolist() == [0.0, 10.0, 20.0]
    assert cells["qualifier"].tolist() == ["<", "=", ">"]


def test_pack_records_one_record_per_condition_and_quality() -> None:
    rows = [
        ("m1", "CCO", "lab", "human", "high", "x", 1.0, "="),
        ("m1", "CCO", "lab", "human", "low", "y", 2.0, "<"),
        ("m1", "CCO", "lab", "rat", "high", "z", 3.0, "="),
        ("m1", "CCO", "lab", "human", "high", "y", 4.0, "="),
        ("m2", "CCN", "lab", "human", "high", "x", 5.0, "="),
        ("m2", "CCN", "lab", "human", "high", "x", 6.0, "="),
    ]
    records = pack_records(pd.DataFrame(rows, columns=list(CELL_COLUMNS)), ("x", "y", "z"), ("human", "rat"))
    assert list(records.columns) == [
        "smiles",
        "x",
        "y",
        "z",
        "x modifier",
        "y modifier",
        "z modifier",
        "experiment",
        "condition",
        "quality",
        "compound",
    ]
    got = records[["compound", "condition", "quality"]].values.tolist()
    got = [
        row + values
        for row, values in zip(got, records[["x", "y", "z"]].fillna(-1).values.tolist(), strict=True)
    ]
    assert got == [
        ["m1", "human", "high", 1.0, 4.0, -1],
        ["m1", "human", "low", -1, 2.0, -1],
        ["m1", "rat", "high", -1, -1, 3.0],
        ["m2", "human", "high", 5.0, -1, -1],
        ["m2", "human", "high", 6.0, -1, -1],
    ]
    qualifiers = records[["x modifier", "y modifier", "z modifier"]].fillna("").values.tolist()
    assert qualifiers == [["=", "=", ""], ["", "<", ""], ["", "", "="], ["=", "", ""], ["=", "", ""]]


def test_registry_names_and_unknown_name() -> None:
    assert set(KNOWN_DATASETS) == {"demo", "biogen_adme", "adme_multisource"}
    assert get_known("biogen_adme").target_cols == (
        "HLM_CLint",
        "MDR1_ER",
        "solubility",
        "hPPB",
        "rPPB",
        "RLM_CLint",
    )
    with pytest.raises(DataFetchError, match=r"unknown data set 'tox21'; known data sets: demo, biogen_adme"):
        get_known("tox21")


def test_cache_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "env"))
    assert resolve_cache_dir() == tmp_path / "env"
    assert resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(CACHE_ENV_VAR)
    assert resolve_cache_dir() == Path.home() / ".cache" / "admet-hpo"


def test_fetch_demo_writes_the_table_into_the_cache(tmp_path: Path, demo_frame: pd.DataFrame) -> None:
    path = fetch_known("demo", cache_dir=tmp_path)
    assert path == known_table_path("demo", tmp_path) == tmp_path / "known" / "demo-v1.csv"
    pd.testing.assert_frame_equal(pd.read_csv(path), demo_frame, check_dtype=False)
    assert [p.name for p in path.parent.iterdir()] == ["demo-v1.csv"], "no temporary files left behind"
    with pytest.raises(DataFetchError, match=r"'demo' is built by admet-hpo itself; it takes no --from PATH"):
        fetch_known("demo", from_path=tmp_path, cache_dir=tmp_path)


def test_ensure_known_table_builds_demo_but_asks_to_fetch_public_sets(tmp_path: Path) -> None:
    assert ensure_known_table("demo", tmp_path).is_file()
    with pytest.raises(
        DataFetchError, match=r"'biogen_adme' is not in the cache .*hpo data fetch biogen_adme --from PATH"
    ):
        ensure_known_table("biogen_adme", tmp_path)


@pytest.fixture
def pinned_file(tmp_path: Path) -> tuple[SourceFile, Path]:
    path = tmp_path / "source" / "values.csv"
    path.parent.mkdir()
    path.write_text("a,b\n1,2\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return SourceFile("values.csv", path.as_uri(), digest), path


def test_local_source_accepts_the_file_or_its_directory(pinned_file) -> None:
    source, path = pinned_file
    assert local_source(path, source) == path
    assert local_source(path.parent, source) == path


def test_local_source_names_a_missing_file(pinned_file, tmp_path: Path) -> None:
    source, _ = pinned_file
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        DataFetchError, match=r"directory .*empty: values\.csv not found; expected the file values\.csv"
    ):
        local_source(empty, source)
    with pytest.raises(DataFetchError, match=r"other\.csv: values\.csv not found"):
        local_source(tmp_path / "other.csv", source)


def test_local_source_rejects_a_checksum_mismatch(pinned_file) -> None:
    source, path = pinned_file
    path.write_text("a,b\n1,3\n")
    with pytest.raises(
        DataFetchError, match=rf"values\.csv: sha256 [0-9a-f]{{64}} does not match the pinned {source.sha256}"
    ):
        local_source(path, source)


def test_download_verifies_and_reuses_the_cached_copy(pinned_file, tmp_path: Path) -> None:
    source, path = pinned_file
    cached = download_source(source, tmp_path / "cache")
    assert cached == tmp_path / "cache" / "downloads" / "values.csv"
    assert cached.read_bytes() == path.read_bytes()
    path.unlink()
    assert download_source(source, tmp_path / "cache") == cached, (
        "a checked cached copy is not downloaded again"
    )


def test_download_of_a_changed_file_is_rejected_and_not_kept(pinned_file, tmp_path: Path) -> None:
    source, path = pinned_file
    path.write_text("tampered\n")
    with pytest.raises(DataFetchError, match=r"does not match the pinned"):
        download_source(source, tmp_path / "cache")
    assert not (tmp_path / "cache" / "downloads" / "values.csv").exists()


def test_download_offline_is_a_clear_fetch_error(tmp_path: Path) -> None:
    source = SourceFile("ADME_public_set_3521.csv", "http://127.0.0.1:9/ADME_public_set_3521.csv", "0" * 64)
    with pytest.raises(
        DataFetchError,
        match=r"cannot download ADME_public_set_3521\.csv from http://127\.0\.0\.1:9/.*--from PATH",
    ):
        download_source(source, tmp_path)
    assert not any((tmp_path / "downloads").iterdir())
