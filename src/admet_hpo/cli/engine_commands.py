"""``hpo slurm`` and ``hpo storage-proxy``: running a study's workers on a cluster's engines."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from admet_hpo.cli.console import console, quiet_libraries, stop_signals_interrupt, user_errors
from admet_hpo.cli.options import StorageOpt, StudyArg, TrialBudgetOpt


def register(app: typer.Typer) -> None:
    """Add the engine commands to ``app``."""
    app.command("slurm")(slurm_command)
    app.command("storage-proxy")(storage_proxy_command)


@user_errors
def slurm_command(
    study_file: Path = StudyArg,
    array: int = typer.Option(..., "--array", min=1, help="Array tasks: one 'hpo worker' each."),
    cpus_per_task: int = typer.Option(1, "--cpus-per-task", min=1, help="CPUs (torch threads) per task."),
    gpus_per_task: int = typer.Option(0, "--gpus-per-task", min=0, help="GPUs per task (SLURM sets them)."),
    time: str | None = typer.Option(None, "--time", help="Wall time per task, e.g. 02:00:00."),
    partition: str | None = typer.Option(None, "--partition", help="SLURM partition."),
    env_file: Path | None = typer.Option(
        None, "--env-file", help="KEY=value file every task sources (e.g. ADMET_HPO_STORAGE); not copied."
    ),
    n_trials: int | None = TrialBudgetOpt,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Where to write the script (default: <output_dir>/slurm/<name>.sbatch)."
    ),
    submit: bool = typer.Option(False, "--submit", help="Submit the script with sbatch; print the job id."),
) -> None:
    """Prepare the study once, then write (and with --submit, submit) an sbatch job array of workers.

    Every array task runs 'hpo worker STUDY.yaml --worker-index $SLURM_ARRAY_TASK_ID' against the study's
    shared storage; the budget is shared exactly. The script holds no secret: the workers read the storage
    URL from the env file or $ADMET_HPO_STORAGE (sbatch exports the submitting environment), else from
    the study file; this command prepares the study on the same storage (no --storage option: the workers
    could not see it).
    """
    import os

    from admet_hpo.errors import ConfigError
    from admet_hpo.masking import mask_url
    from admet_hpo.orchestration.runner import prepare_study
    from admet_hpo.orchestration.session import StudySession
    from admet_hpo.orchestration.slurm import ArrayJob, read_env_file, sbatch_script
    from admet_hpo.orchestration.slurm import submit as submit_script

    if env_file is not None:
        if not env_file.is_file():
            raise ConfigError(f"--env-file {env_file}: no such file")
        os.environ.update(read_env_file(env_file))  # the study is prepared where the tasks will look
    session = StudySession.open(study_file)  # the environment's locations: the ones the tasks resolve
    study = session.study
    job = ArrayJob(
        study_file=study_file.resolve(),
        array=array,
        job_name=f"hpo-{study.name}",
        log_dir=Path(study.output_dir) / "slurm",
        workdir=Path.cwd(),
        python=sys.executable,
        cpus_per_task=cpus_per_task,
        gpus_per_task=gpus_per_task,
        time=time,
        partition=partition,
        env_file=None if env_file is None else env_file.resolve(),
        n_trials=n_trials,
    )
    quiet_libraries()
    url = study.storage
    with session:
        optuna_study = prepare_study(session)
    script = output or job.log_dir / f"{study.name}.sbatch"
    script.parent.mkdir(parents=True, exist_ok=True)
    job.log_dir.mkdir(parents=True, exist_ok=True)
    script.write_text(sbatch_script(job), encoding="utf-8")
    console.print(
        f"study [bold]{optuna_study.study_name}[/] ready on {mask_url(url)}; wrote {script} "
        f"({array} array task(s), logs in {job.log_dir})",
        highlight=False,
        soft_wrap=True,
    )
    if submit:
        job_id = submit_script(script)
        console.print(f"submitted job {job_id}", highlight=False)
    else:
        console.print(f"submit it with: sbatch {script}", highlight=False, soft_wrap=True)


@user_errors
def storage_proxy_command(
    study_file: Path = StudyArg,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(13000, "--port", min=1, max=65535, help="Port to listen on."),
    storage: str | None = StorageOpt,
) -> None:
    """Serve the study's storage to many workers through Optuna's gRPC storage proxy.

    Workers connect with --storage grpc://HOST:PORT (or ADMET_HPO_STORAGE) instead of holding database
    connections each; the proxy holds them. It serves until Ctrl-C or SIGTERM.
    """
    from admet_hpo.masking import mask_url
    from admet_hpo.orchestration.session import StudySession
    from admet_hpo.storage.proxy import serve_storage

    session = StudySession.open(study_file, storage=storage)
    url = session.study.storage
    quiet_libraries()
    console.print(
        f"storage proxy for {mask_url(url)} on grpc://{host}:{port}; Ctrl-C stops",
        highlight=False,
        soft_wrap=True,
    )
    with stop_signals_interrupt(), session:
        try:
            serve_storage(url, lambda: session.storage, host, port)
        except KeyboardInterrupt:
            console.print("storage proxy stopped")
