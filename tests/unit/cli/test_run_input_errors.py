"""`hpo run` refuses inputs that would fail every trial before anything trains: status 2, one message."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from admet_hpo.cli import app

ALPHA = {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.0, "high": 1.0}


def test_condition_shares_missing_a_condition_fail_before_training(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(yaml.safe_dump({"parameters": {"alpha": ALPHA}}))
    batches = {"condition_balanced": True, "condition_ratio": {"human": 1.0}}
    study = {
        "name": "s",
        "search_spaces": ["space.yaml"],
        "training": {"data": {"dataset": "demo"}, "sampling": {"batches": batches}},
        "n_trials": 2,
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    result = CliRunner().invoke(app, ["run", str(tmp_path / "study.yaml")])
    assert result.exit_code == 2, result.output
    assert "sampling.batches.condition_ratio: no share for condition(s) 'rat'" in result.output
    assert "Traceback" not in result.output and "trial 0" not in result.output
