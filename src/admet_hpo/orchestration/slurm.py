"""A study's workers as a SLURM job array: the sbatch script, its submission, and the trial attributes
that say which array task ran a trial.

``hpo slurm`` prepares the study once in the submitting process (storage schema, Optuna study, MLflow
experiment and parent run: concurrent creation races, see :mod:`admet_hpo.orchestration.runner`), then writes
one sbatch script whose every array task runs one ``hpo worker``. The script holds no secret: storage
and tracking URLs come from the study file (whose ``${VARIABLE}`` references are expanded by each
worker), from an env file the script sources, or from the submitting environment (sbatch exports it to
the job by default).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from admet_hpo.errors import ConfigError
from admet_hpo.tracking.keys import SLURM_JOB_ATTR, SLURM_TASK_ATTR

#: Trial user attributes set by a worker running as a SLURM array task (from the job's environment).
SLURM_ATTRS = {"SLURM_ARRAY_JOB_ID": SLURM_JOB_ATTR, "SLURM_ARRAY_TASK_ID": SLURM_TASK_ATTR}
#: sbatch's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
_TIME = re.compile(r"\d+|\d+:\d{2}|\d+:\d{2}:\d{2}|\d+-\d+|\d+-\d+:\d{2}|\d+-\d+:\d{2}:\d{2}")
_NAME = re.compile(r"[A-Za-z0-9_.+-]+")


@dataclass(frozen=True)
class ArrayJob:
    """What one sbatch array script runs: ``array`` tasks of ``hpo worker study_file``.

    ``n_trials`` (None = the study file's) is the study's budget, shared exactly by all tasks;
    ``env_file`` is sourced by every task before the worker starts (``KEY=value`` lines, e.g.
    ``ADMET_HPO_STORAGE``); ``log_dir`` receives one ``<job name>-<job id>_<task>.out`` per task.
    """

    study_file: Path
    array: int
    job_name: str
    log_dir: Path
    workdir: Path
    python: str
    cpus_per_task: int = 1
    gpus_per_task: int = 0
    time: str | None = None
    partition: str | None = None
    env_file: Path | None = None
    n_trials: int | None = None

    def __post_init__(self) -> None:
        if self.array < 1:
            raise ConfigError(f"--array {self.array}: a job array needs at least one task")
        if self.cpus_per_task < 1 or self.gpus_per_task < 0:
            raise ConfigError("--cpus-per-task must be at least 1 and --gpus-per-task at least 0")
        if self.time is not None and not _TIME.fullmatch(self.time):
            raise ConfigError(
                f"--time {self.time!r}: expected SLURM's MM, MM:SS, HH:MM:SS or D-HH:MM:SS, e.g. 02:00:00"
            )
        if self.partition is not None and not _NAME.fullmatch(self.partition):
            raise ConfigError(f"--partition {self.partition!r}: not a SLURM partition name")
        if not _NAME.fullmatch(self.job_name):
            raise ConfigError(f"job name {self.job_name!r}: use letters, digits, '_', '.', '+' or '-'")


_ASSIGNMENT = re.compile(r"(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)")


def read_env_file(path: Path) -> dict[str, str]:
    """The ``KEY=value`` assignments of an env file as the tasks' shell will see them (one per line,
    ``#`` comments and blank lines skipped, an optional ``export`` and one pair of surrounding quotes
    removed; no further shell expansion). A line of another form is a :class:`ConfigError` naming it."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        match = _ASSIGNMENT.fullmatch(text)
        if match is None:
            raise ConfigError(f"{path}:{number}: expected KEY=value, got {text[:40]!r}")
        value = _literal(match["value"])
        if value is None:
            raise ConfigError(
                f"{path}:{number}: the value of {match['key']} would be expanded or split by the shell; "
                "put it in single quotes"
            )
        values[match["key"]] = value
    return values


def _literal(value: str) -> str | None:
    """What the shell assigns for ``value``, when that is the text itself (None when the shell would
    expand, split or unquote it in a way this reader does not reproduce)."""
    if len(value) >= 2 and value[0] == value[-1] == "'" and "'" not in value[1:-1]:
        return value[1:-1]
    quoted = len(value) >= 2 and value[0] == value[-1] == '"'
    inner = value[1:-1] if quoted else value
    special = "$`\\\"'" if quoted else "$`\\\"' \t;&|<>()"
    return None if any(character in special for character in inner) else inner


def worker_arguments(job: ArrayJob) -> list[str]:
    """The ``hpo worker`` command line of every array task (its index comes from the task id)."""
    arguments = [job.python, "-m", "admet_hpo", "worker", str(job.study_file), "-q"]
    if job.n_trials is not None:
        arguments += ["--n-trials", str(job.n_trials)]
    return arguments


def sbatch_script(job: ArrayJob) -> str:
    """The sbatch script of ``job``: ``#SBATCH`` directives, the env file sourced, one torch thread per
    allocated CPU, then ``exec hpo worker ... --worker-index $SLURM_ARRAY_TASK_ID`` (so each task's
    sampler seed differs)."""
    directives = [
        f"--job-name={job.job_name}",
        f"--array=0-{job.array - 1}",
        "--ntasks=1",
        f"--cpus-per-task={job.cpus_per_task}",
        f"--output={job.log_dir / '%x-%A_%a.out'}",
    ]
    if job.gpus_per_task:
        directives.append(f"--gpus-per-task={job.gpus_per_task}")
    if job.time is not None:
        directives.append(f"--time={job.time}")
    if job.partition is not None:
        directives.append(f"--partition={job.partition}")
    lines = ["#!/bin/bash", *(f"#SBATCH {directive}" for directive in directives), "set -euo pipefail"]
    lines.append(f"cd {shlex.quote(str(job.workdir))}")
    if job.env_file is not None:
        lines += ["set -a", f". {shlex.quote(str(job.env_file))}", "set +a"]
    lines.append('export OMP_NUM_THREADS="${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}"')
    lines.append(f'exec {shlex.join(worker_arguments(job))} --worker-index "$SLURM_ARRAY_TASK_ID"')
    return "\n".join(lines) + "\n"


def submit(script: Path, sbatch: str = "sbatch") -> str:
    """Submit ``script`` with ``sbatch --parsable``; the job id. A missing ``sbatch`` or a refused
    submission is a :class:`ConfigError` with sbatch's own message."""
    executable = shutil.which(sbatch)
    if executable is None:
        raise ConfigError(f"cannot submit {script}: '{sbatch}' is not on PATH (is this a SLURM login node?)")
    completed = subprocess.run(
        [executable, "--parsable", str(script)], capture_output=True, text=True, check=False, timeout=120
    )
    if completed.returncode != 0:
        message = " ".join(completed.stderr.split()) or f"exit status {completed.returncode}"
        raise ConfigError(f"sbatch refused {script}: {message}")
    return completed.stdout.strip().split(";", 1)[0]


def slurm_trial_attrs(environ: Mapping[str, str]) -> dict[str, object]:
    """The trial attributes of a worker running as a SLURM array task (empty outside one)."""
    return {attr: environ[variable] for variable, attr in SLURM_ATTRS.items() if variable in environ}


def slurm_task_label(user_attrs: Mapping[str, object]) -> str | None:
    """``<array job id>_<task id>`` (SLURM's own notation) of a trial run by an array task, else None."""
    job, task = (user_attrs.get(attr) for attr in SLURM_ATTRS.values())
    return None if job is None or task is None else f"{job}_{task}"
