"""``hpo predict`` and ``hpo finalize`` at the command line: clear errors, per-line reports, exit codes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from typer.testing import CliRunner

from admet_hpo.cli import app


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def write_study(folder: Path) -> Path:
    space = {"parameters": {"depth": {"path": "model.depth", "type": "int", "low": 1, "high": 2}}}
    (folder / "space.yaml").write_text(yaml.safe_dump(space), encoding="utf-8")
    study = {"name": "s", "search_spaces": ["space.yaml"], "data": {"dataset": "demo"}, "n_trials": 1}
    (folder / "study.yaml").write_text(yaml.safe_dump({**study, "output_dir": "out"}), encoding="utf-8")
    return folder / "study.yaml"


def test_predict_writes_every_row_and_reports_bad_smiles_by_line(make_ensemble, tmp_path: Path) -> None:
    folder = make_ensemble()
    (tmp_path / "in.csv").write_text("id,smiles\n1,CCO\n2,C1CC(\n3,\n4,c1ccccc1\n", encoding="utf-8")
    result = invoke("predict", folder, tmp_path / "in.csv", "-o", tmp_path / "out" / "p.csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "out" / "p.csv")
    assert list(frame.columns) == ["id", "smiles", "a", "a_sd", "b", "b_sd"]
    assert list(frame["id"]) == [1, 2, 3, 4]
    assert frame.loc[[1, 2], "a":].isna().all().all() and frame.loc[[0, 3], "a":].notna().all().all()
    assert "2 of 4 row(s) not predicted" in result.output
    assert "in.csv: line 3: 'C1CC(' RDKit cannot parse this SMILES" in result.output
    assert "in.csv: line 4: empty SMILES" in result.output
    assert "2 of 4 row(s) predicted by 2 member(s)" in result.output


def test_predict_without_an_ensemble_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("smiles\nCCO\n", encoding="utf-8")
    missing = invoke("predict", tmp_path / "nowhere", tmp_path / "in.csv", "-o", tmp_path / "o.csv")
    assert missing.exit_code == 2 and "no such ensemble folder or study file" in missing.output
    empty = tmp_path / "empty"
    empty.mkdir()
    not_one = invoke("predict", empty, tmp_path / "in.csv", "-o", tmp_path / "o.csv")
    assert not_one.exit_code == 2 and "ensemble.json is missing" in not_one.output
    study = invoke("predict", write_study(tmp_path), tmp_path / "in.csv", "-o", tmp_path / "o.csv")
    assert study.exit_code == 2 and "out/ensemble: no such ensemble folder" in study.output
    for result in (missing, not_one, study):
        assert "Traceback" not in result.output
    assert not (tmp_path / "o.csv").exists()


def test_predict_names_a_missing_input_column(make_ensemble, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("smi\nCCO\n", encoding="utf-8")
    result = invoke("predict", make_ensemble(), tmp_path / "in.csv", "-o", tmp_path / "o.csv")
    assert result.exit_code == 2 and "no SMILES column 'smiles' (columns: smi)" in result.output
    fixed = invoke(
        "predict",
        make_ensemble(name="e2"),
        tmp_path / "in.csv",
        "-o",
        tmp_path / "o.csv",
        "--smiles-col",
        "smi",
    )
    assert fixed.exit_code == 0, fixed.output


def test_finalize_before_the_study_ran_is_a_clear_error(tmp_path: Path) -> None:
    result = invoke("finalize", write_study(tmp_path), "--seeds", "1")
    assert result.exit_code == 2 and "no study storage" in result.output and "Traceback" not in result.output
