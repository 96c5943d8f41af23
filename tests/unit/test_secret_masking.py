"""Credentials never reach the terminal: log records of every library's handler, warnings, uncaught
exceptions (real processes, since excepthooks are process-level) and the errors of bad tracking URIs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from admet_hpo.cli import app

SECRET = "s3cretPW"
STORAGE = f"postgresql+psycopg://bob:{SECRET}@db.example:5432/optuna"
TRACKING = f"http://alice:{SECRET}@127.0.0.1:9"
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with masking installed first, as ``hpo`` does."""
    prelude = "from admet_hpo.masking import install_secret_masking\ninstall_secret_masking()\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        timeout=300,
    )


def test_an_uncaught_exception_is_printed_masked() -> None:
    result = _python(f"raise RuntimeError('cannot connect to {STORAGE}')")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr  # a bug still shows where it happened
    assert (
        "RuntimeError: cannot connect to postgresql+psycopg://bob:***@db.example:5432/optuna" in result.stderr
    )
    assert SECRET not in result.stderr + result.stdout


def test_an_uncaught_exception_in_a_thread_is_printed_masked() -> None:
    result = _python(
        f"""
        import threading
        def fail():
            raise ValueError('{TRACKING}')
        thread = threading.Thread(target=fail, name='heartbeat')
        thread.start(); thread.join()
        """
    )
    assert "Exception in thread heartbeat" in result.stderr and "alice:***@127.0.0.1:9" in result.stderr
    assert SECRET not in result.stderr


def test_every_library_handler_prints_masked() -> None:
    """Optuna's and MLflow's own stderr handlers, Lightning's, a handler of ours added later, and
    warnings: messages, arguments and tracebacks of records all masked."""
    result = _python(
        f"""
        import logging, warnings
        import optuna, mlflow, lightning.pytorch
        optuna.logging.get_logger('optuna.storages').warning('storage %s', '{STORAGE}')
        logging.getLogger('mlflow.tracking').warning('tracking {TRACKING}')
        lightning_logger = logging.getLogger('lightning.pytorch')
        lightning_logger.setLevel(logging.INFO)
        lightning_logger.warning('lightning {STORAGE}')
        ours = logging.getLogger('admet_hpo.test')
        ours.addHandler(logging.StreamHandler())
        try:
            raise OSError('{STORAGE}')
        except OSError:
            ours.exception('failed')
        warnings.warn('warned {TRACKING}')
        """
    )
    assert result.returncode == 0, result.stderr
    for shown in ("storage postgresql+psycopg://bob:***@db", "tracking http://alice:***@127", "warned http"):
        assert shown in result.stderr, result.stderr
    assert "OSError: postgresql+psycopg://bob:***@db" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_hpo_installs_the_masking_for_every_command() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from admet_hpo.cli import app; sys.argv = ['hpo', 'schema', '--help']\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "from admet_hpo import masking; print(sys.excepthook is masking._masked_traceback)",
        ],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert result.stdout.strip().endswith("True"), result.stderr


def _study(tmp_path: Path, tracking_uri: str) -> Path:
    space = {"alpha": {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.0, "high": 1.0}}
    (tmp_path / "space.yaml").write_text(yaml.safe_dump({"parameters": space}))
    study = {
        "name": "s",
        "search_spaces": ["space.yaml"],
        "data": {"dataset": "demo"},
        "n_trials": 1,
        "mlflow": {"tracking_uri": tracking_uri},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def test_a_tracking_uri_with_an_unsupported_scheme_is_a_masked_config_error(tmp_path: Path) -> None:
    path = _study(tmp_path, f"foo://alice:{SECRET}@somewhere/x")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}: mlflow.tracking_uri: unsupported scheme 'foo'" in result.output
    assert "foo://alice:***@somewhere/x" in result.output and SECRET not in result.output


def test_an_unreachable_tracking_server_is_one_masked_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = CliRunner().invoke(app, ["run", str(_study(tmp_path, TRACKING))])
    assert result.exit_code == 2, result.output
    assert "error: MLflow tracking store http://alice:***@127.0.0.1:9: cannot be opened" in result.output
    assert SECRET not in result.output and "Traceback" not in result.output
