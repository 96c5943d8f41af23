"""Every ``--json`` output parses and matches its documented schema (``schemas/output/``).

A real two-trial study (tiny chemprop models on the demo data, SQLite storage, MLflow store) gives
status, best, export and replay something to report; validate and data list / check run on files
written here. Failing cases (a bad file, a table with problems) still print one valid record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.cli.json_output import OUTPUT_MODELS, schema_file_name

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SPACE = {
    "parameters": {
        "alpha": {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0, "high": 1}
    }
}


def _json_lines(command: str, arguments: list[str], exit_code: int = 0) -> list[dict[str, Any]]:
    """Run ``hpo <command> ... --json``; every stdout line is a document valid under the command's schema."""
    result = CliRunner().invoke(app, [*command.split(), *arguments, "--json"])
    assert result.exit_code == exit_code, result.output
    schema = json.loads((REPO / "schemas" / "output" / schema_file_name(command)).read_text(encoding="utf-8"))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    for record in records:
        jsonschema.Draft202012Validator(schema).validate(record)
    return records


def _json(command: str, arguments: list[str], exit_code: int = 0) -> dict[str, Any]:
    """The one JSON document ``hpo <command> ... --json`` prints (see :func:`_json_lines`)."""
    records = _json_lines(command, arguments, exit_code)
    assert len(records) == 1, records
    return records[0]


@pytest.fixture(scope="module")
def study_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("json-study")
    (folder / "space.yaml").write_text(yaml.safe_dump(SPACE), encoding="utf-8")
    study = {
        "name": "json",
        "search_spaces": ["space.yaml"],
        "training": {
            "data": {"dataset": "demo"},
            "model": {"message_hidden_dim": 16, "depth": 2, "ffn_hidden_dim": 16},
            "optim": {"warmup_epochs": 1},
            "trainer": {"max_epochs": 2, "early_stopping_patience": None, "progress_bar": False},
            "sampling": {"task_oversampling": {"enabled": True}},
        },
        "sampler": {"type": "random", "seed": 0},
        "pruner": {"type": "none"},
        "n_trials": 2,
        "nightly": {"n_trials": 1, "warm_start_top_k": 1},
        "output_dir": "out",
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run_lines(study_file: Path) -> list[dict[str, Any]]:
    """``hpo run --json`` of the study: its two trials, then the summary."""
    return _json_lines("run", [str(study_file)])


def test_every_json_command_is_tested() -> None:
    tested = {"run", "nightly", "status", "best", "export", "replay", "validate", "data list", "data check"}
    assert set(OUTPUT_MODELS) == tested


def test_run_prints_a_line_per_trial_then_the_summary(run_lines: list[dict[str, Any]]) -> None:
    assert [line.get("trial") for line in run_lines[:-1]] == [0, 1]
    assert run_lines[-1]["complete"] == 2 and run_lines[-1]["best_number"] in (0, 1)


def test_study_commands(study_file: Path, run_lines: list[dict[str, Any]], tmp_path: Path) -> None:
    status = _json("status", [str(study_file)])
    assert status["summary"]["complete"] == 2 and len(status["trials"]) == 2
    assert {trial["state"] for trial in status["trials"]} == {"COMPLETE"}
    best = _json("best", [str(study_file)])
    assert best["trial"] == status["summary"]["best_number"] and set(best["params"]) == {"alpha"}
    exported = _json("export", [str(study_file), "-o", str(tmp_path / "best.yaml")])
    assert exported["trial"] == best["trial"] and Path(exported["output"]).is_file()
    replayed = _json("replay", [str(study_file), "--trial", str(best["trial"])])
    assert replayed["reproduced"] is True and replayed["stored"] == best["value"]
    strict = _json(
        "replay", [str(study_file), "--trial", str(best["trial"]), "--tolerance", "-1"], exit_code=1
    )
    assert strict["reproduced"] is False


def test_validate(study_file: Path, tmp_path: Path) -> None:
    good = _json("validate", [str(study_file)])
    assert good["ok"] is True and good["files"][0]["kind"] == "study"
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nsearch_spaces: []\n", encoding="utf-8")
    bad = _json("validate", [str(study_file), str(broken)], exit_code=2)
    assert bad["ok"] is False and [f["ok"] for f in bad["files"]] == [True, False]
    assert "search_spaces" in bad["files"][1]["error"]


def test_data_commands(tmp_path: Path) -> None:
    listed = _json("data list", ["--cache-dir", str(tmp_path)])
    assert {d["name"] for d in listed["datasets"]} >= {"demo", "biogen_adme"}
    assert not any(d["cached"] for d in listed["datasets"])
    clean = tmp_path / "clean.csv"
    clean.write_text("smiles,a,b\nCCO,1,\nCCN,,2\n", encoding="utf-8")
    report = _json("data check", [str(clean)])
    assert report["ok"] is True and report["report"]["labels"] == {"a": 1, "b": 1}
    messy = tmp_path / "messy.csv"
    messy.write_text("smiles,a\nCCO,1\nC1CC,x\n", encoding="utf-8")
    problems = _json("data check", [str(messy), "--targets", "a"], exit_code=1)
    assert problems["ok"] is False and problems["report"]["problems"]


# Last: the night adds a trial to the study the tests above count.
def test_nightly_prints_a_line_per_trial_then_the_night(
    study_file: Path, run_lines: list[dict[str, Any]]
) -> None:
    lines = _json_lines("nightly", [str(study_file), "--date", "2026-12-01"])
    assert len(lines) == 2 and lines[0]["state"] == "COMPLETE"
    night = lines[-1]
    assert night["night"] == "2026-12-01" and night["added"] == 1
