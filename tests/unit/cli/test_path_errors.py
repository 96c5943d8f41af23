"""Every OSError on a user's path is one line naming the path and the reason: status 2, no traceback.

Read-only folders are real: ``chmod 555`` for a normal user, the immutable attribute (``chattr +i``)
for root, whom permission bits do not stop.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.config.study import load_study
from admet_hpo.search.space import suggest
from admet_hpo.search.versioning import versioned_study_name

runner = CliRunner()
ALPHA = {"path": "sampling.task_oversampling.alpha", "type": "float", "low": 0.0, "high": 1.0}


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """An existing folder nobody (root included) can create anything in."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("running as root without chattr +i: no way to make a read-only folder")
    yield folder
    subprocess.run([chattr, "-i", str(folder)], check=True)


def _fails_naming(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"error: {expected}" in result.output, result.output
    lines = result.output.strip().splitlines()
    assert "Traceback" not in result.output and lines[-1].startswith("error: ")  # one line, last


def test_schema_onto_a_file_or_into_a_read_only_folder(tmp_path: Path, read_only_dir: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    _fails_naming(["schema", "-o", str(target)], f"{target}: exists and is not a folder")
    _fails_naming(["schema", "-o", str(read_only_dir / "schemas")], f"{read_only_dir / 'schemas'}: ")
    _fails_naming(["schema", "-o", str(target / "schemas")], f"{target / 'schemas'}: Not a directory")


def test_config_migrate_into_a_missing_folder_or_onto_a_folder(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text("data: {dataset: demo}\n")
    missing = tmp_path / "nowhere" / "new.yaml"
    _fails_naming(
        ["config", "migrate", str(old), "-o", str(missing)], f"{missing}: No such file or directory"
    )
    _fails_naming(
        ["config", "migrate", str(old), "-o", str(tmp_path), "--force"], f"{tmp_path}: Is a directory"
    )


def test_data_fetch_into_a_read_only_cache(read_only_dir: Path, tmp_path: Path) -> None:
    cache = read_only_dir / "cache"
    _fails_naming(["data", "fetch", "demo", "--cache-dir", str(cache)], f"{cache}: ")
    under_file = tmp_path / "file"
    under_file.write_text("")
    _fails_naming(["data", "fetch", "demo", "--cache-dir", str(under_file / "c")], f"{under_file / 'c'}")


@pytest.fixture
def finished_study(tmp_path: Path) -> Path:
    """A study file whose storage holds one completed trial (told by hand, nothing trained)."""
    (tmp_path / "space.yaml").write_text(yaml.safe_dump({"parameters": {"alpha": ALPHA}}))
    study_file = tmp_path / "study.yaml"
    study_file.write_text(
        yaml.safe_dump(
            {"name": "s", "search_spaces": ["space.yaml"], "data": {"dataset": "demo"}, "n_trials": 1}
        )
    )
    study = load_study(study_file)
    study.output_dir.mkdir(parents=True)
    optuna_study = optuna.create_study(study_name=versioned_study_name(study), storage=study.storage)
    trial = optuna_study.ask()
    suggest(trial, study.space)
    optuna_study.tell(trial, 1.0)
    return study_file


def test_export_into_a_missing_folder_or_onto_a_folder(finished_study: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "best.yaml"
    _fails_naming(
        ["export", str(finished_study), "-o", str(missing)], f"{missing}: No such file or directory"
    )
    _fails_naming(["export", str(finished_study), "-o", str(tmp_path)], f"{tmp_path}: Is a directory")


@pytest.mark.parametrize("where", ["under-a-file", "read-only"])
def test_run_with_an_output_dir_it_cannot_create(tmp_path: Path, read_only_dir: Path, where: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    output = blocker / "out" if where == "under-a-file" else read_only_dir / "out"
    (tmp_path / "space.yaml").write_text(yaml.safe_dump({"parameters": {"alpha": ALPHA}}))
    study_file = tmp_path / "study.yaml"
    study = {"name": "s", "search_spaces": ["space.yaml"], "data": {"dataset": "demo"}, "n_trials": 1}
    study_file.write_text(yaml.safe_dump({**study, "output_dir": str(output)}))
    reason = "Not a directory" if where == "under-a-file" else ""
    _fails_naming(["run", str(study_file)], f"{output}: {reason}")


def test_a_rename_names_both_paths_and_an_error_without_a_path_is_not_hidden(tmp_path: Path) -> None:
    from admet_hpo.errors import describe_os_error

    with pytest.raises(OSError) as caught:
        (tmp_path / "absent").rename(tmp_path / "other")
    assert (
        describe_os_error(caught.value)
        == f"{tmp_path / 'absent'} -> {tmp_path / 'other'}: No such file or directory"
    )
    assert describe_os_error(OSError(28, "No space left on device")) == "No space left on device"


def test_train_with_a_read_only_data_cache(
    tmp_path: Path, read_only_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo table is built into $ADMET_HPO_CACHE before anything trains."""
    monkeypatch.setenv("ADMET_HPO_CACHE", str(read_only_dir / "cache"))
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"data": {"dataset": "demo"}, "output_dir": str(tmp_path / "out")}))
    _fails_naming(["train", str(config)], f"{read_only_dir / 'cache'}")
