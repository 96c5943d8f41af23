"""The sbatch script ``hpo slurm`` writes, its env-file reader and its errors (no cluster needed; the
real cluster runs in tests/integration/test_slurm_array.py)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from admet_hpo.cli import app
from admet_hpo.errors import ConfigError
from admet_hpo.orchestration.slurm import (
    ArrayJob,
    read_env_file,
    sbatch_script,
    slurm_task_label,
    slurm_trial_attrs,
    submit,
)


def job(tmp_path: Path, **changes: object) -> ArrayJob:
    values: dict[str, object] = {
        "study_file": tmp_path / "my study.yaml",
        "array": 3,
        "job_name": "hpo-demo",
        "log_dir": tmp_path / "logs",
        "workdir": tmp_path,
        "python": "/opt/venv/bin/python",
    }
    return ArrayJob(**(values | changes))  # type: ignore[arg-type]


def directives(script: str) -> list[str]:
    return [line.removeprefix("#SBATCH ") for line in script.splitlines() if line.startswith("#SBATCH ")]


def test_the_script_asks_for_the_array_and_resources_and_runs_one_worker_per_task(tmp_path: Path) -> None:
    env_file = tmp_path / "hpo.env"
    script = sbatch_script(
        job(tmp_path, cpus_per_task=4, gpus_per_task=1, time="1-02:00:00", partition="gpu", env_file=env_file)
    )
    assert directives(script) == [
        "--job-name=hpo-demo",
        "--array=0-2",
        "--ntasks=1",
        "--cpus-per-task=4",
        f"--output={tmp_path / 'logs' / '%x-%A_%a.out'}",
        "--gpus-per-task=1",
        "--time=1-02:00:00",
        "--partition=gpu",
    ]
    last = shlex.split(script.splitlines()[-1])
    assert last[:6] == [
        "exec",
        "/opt/venv/bin/python",
        "-m",
        "admet_hpo",
        "worker",
        str(tmp_path / "my study.yaml"),
    ]
    assert last[-2:] == ["--worker-index", "$SLURM_ARRAY_TASK_ID"]
    assert f". {shlex.quote(str(env_file))}" in script.splitlines()  # sourced between set -a / set +a
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0


def test_without_options_the_script_requests_no_gpu_time_or_partition(tmp_path: Path) -> None:
    script = sbatch_script(job(tmp_path, n_trials=12))
    assert not [d for d in directives(script) if d.startswith(("--gpus", "--time", "--partition"))]
    assert ". " not in script and "--n-trials 12" in script


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"array": 0}, "at least one task"),
        ({"time": "2h"}, "--time '2h'"),
        ({"time": "10:5"}, "--time '10:5'"),
        ({"partition": "gpu; rm -rf /"}, "not a SLURM partition name"),
        ({"cpus_per_task": 0}, "--cpus-per-task"),
    ],
)
def test_bad_job_settings_are_named(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        job(tmp_path, **changes)


def test_the_env_file_reader_takes_what_the_shell_assigns(tmp_path: Path) -> None:
    path = tmp_path / "hpo.env"
    path.write_text(
        "# comment\n\nADMET_HPO_STORAGE='postgresql+psycopg://u:p$w@db/x'\n"
        'export A=plain\nB="quoted value"\n',
        encoding="utf-8",
    )
    assert read_env_file(path) == {
        "ADMET_HPO_STORAGE": "postgresql+psycopg://u:p$w@db/x",
        "A": "plain",
        "B": "quoted value",
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not an assignment", "expected KEY=value"),
        ("A=$HOME/x", "single quotes"),
        ('A="$HOME"', "single quotes"),
        ("A=two words", "single quotes"),
    ],
)
def test_env_file_lines_the_reader_cannot_reproduce_are_named(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "hpo.env"
    path.write_text(f"OK=1\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"hpo.env:2: .*{message}"):
        read_env_file(path)


def test_trials_of_array_tasks_are_labelled_with_slurm_notation() -> None:
    environ = {"SLURM_ARRAY_JOB_ID": "812", "SLURM_ARRAY_TASK_ID": "3", "SLURM_JOB_ID": "815"}
    attrs = slurm_trial_attrs(environ)
    assert attrs == {"slurm_array_job_id": "812", "slurm_array_task_id": "3"}
    assert slurm_task_label(attrs) == "812_3"
    assert slurm_trial_attrs({"HOME": "/root"}) == {} and slurm_task_label({}) is None


def test_submitting_without_sbatch_or_with_a_refused_script_is_a_clear_error(tmp_path: Path) -> None:
    script = tmp_path / "job.sbatch"
    script.write_text("#!/bin/bash\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'no-such-sbatch' is not on PATH"):
        submit(script, sbatch="no-such-sbatch")
    refusing = tmp_path / "sbatch"
    refusing.write_text("#!/bin/sh\necho 'sbatch: error: Invalid partition name specified' >&2\nexit 1\n")
    refusing.chmod(0o755)
    with pytest.raises(ConfigError, match=r"sbatch refused .*Invalid partition name specified"):
        submit(script, sbatch=str(refusing))
    accepting = tmp_path / "sbatch-ok"
    accepting.write_text("#!/bin/sh\necho '4242;cluster'\n")
    accepting.chmod(0o755)
    assert submit(script, sbatch=str(accepting)) == "4242"


def test_the_command_refuses_a_missing_env_file(tmp_path: Path) -> None:
    study = tmp_path / "study.yaml"
    study.write_text("name: s\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["slurm", str(study), "--array", "2", "--env-file", str(tmp_path / "x")])
    assert result.exit_code == 2 and "--env-file" in result.output and "no such file" in result.output


def test_without_submit_the_study_is_prepared_and_the_script_written(tmp_path: Path) -> None:
    import optuna
    import yaml

    (tmp_path / "space.yaml").write_text(
        yaml.safe_dump(
            {"parameters": {"lr": {"path": "optim.max_lr", "type": "float", "low": 1e-4, "high": 1e-3}}}
        ),
        encoding="utf-8",
    )
    study = tmp_path / "study.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "name": "arr",
                "search_spaces": ["space.yaml"],
                "training": {"data": {"dataset": "demo"}},
                "n_trials": 4,
                "output_dir": "out",
            }
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["slurm", str(study), "--array", "3", "--cpus-per-task", "2"])
    assert result.exit_code == 0, result.output
    script = tmp_path / "out" / "slurm" / "arr.sbatch"
    assert f"submit it with: sbatch {script}" in " ".join(result.output.split())
    assert "#SBATCH --array=0-2" in script.read_text(encoding="utf-8")
    studies = optuna.get_all_study_names(f"sqlite:///{tmp_path / 'out' / 'optuna.db'}")
    assert len(studies) == 1 and studies[0].startswith("arr-")  # prepared once, before any task
