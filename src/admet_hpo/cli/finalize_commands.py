"""``hpo finalize`` and ``hpo predict``: a study's final ensemble, and predictions with it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from admet_hpo.cli.console import console, error_console, quiet_libraries, user_errors
from admet_hpo.cli.options import OutputDirOpt, StorageOpt, StudyArg, TrackingOpt

if TYPE_CHECKING:
    import optuna

    from admet_hpo.config.study import Study
    from admet_hpo.finalize.manifest import EnsembleManifest
    from admet_hpo.finalize.members import MemberSpec


def register(app: typer.Typer) -> None:
    """Add the final-model commands to ``app``."""
    app.command("finalize")(finalize_command)
    app.command("predict")(predict_command)


def _metrics_line(manifest: EnsembleManifest) -> str:
    means = [
        f"{part} {name} {manifest.metrics[key]:.4g}"
        for part in ("val", "test")
        for name in ("rmse", "mae", "r2", "pearson_r", "spearman_rho")
        if (key := f"{part}/mean_{name}") in manifest.metrics
    ]
    return "ensemble (means over tasks, modelled scale): " + (", ".join(means) or "no labelled rows")


@user_errors
def finalize_command(
    study_file: Path = StudyArg,
    top_k: int = typer.Option(1, "--top-k", min=1, help="Retrain the K best completed trials."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Members per trial: seeds trial seed + 0..S-1."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Ensemble folder (default: <study output_dir>/ensemble)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing ensemble folder."),
    register_model: bool = typer.Option(
        True,
        "--register/--no-register",
        help="Log the ensemble to the study's MLflow experiment and register it under the study's name.",
    ),
    storage: str | None = StorageOpt,
    tracking_uri: str | None = TrackingOpt,
    output_dir: Path | None = OutputDirOpt,
) -> None:
    """Retrain the best (or top-k) trials with S seeds into an ensemble folder, log it to MLflow as a
    pyfunc model and register it under the study's name.

    Protocol: each member is its trial's resolved config with trainer.seed = trial seed + i, trained as
    the study trained its trials: on the study's train split, the best epoch chosen on validation loss
    (early stopping as configured), the test split never seen. So the members are the models the
    search selected (a trial's first member reproduces it), each seed picks its own epoch, and the
    test metrics of the ensemble stay honest; the validation records are not trained on.

    The folder holds ensemble.json (members, tasks, transforms, val/test metrics) and, per member,
    config.yaml (runnable by 'hpo train') and best.pt (loadable by 'chemprop predict').
    """
    from admet_hpo.cli.existing_study import existing_study

    with existing_study(study_file, storage, tracking_uri, output_dir) as (session, optuna_study):
        _finalize(session.study, optuna_study, top_k, seeds, output, overwrite, register_model)


def _finalize(
    study: Study,
    optuna_study: optuna.Study,
    top_k: int,
    seeds: int,
    output: Path | None,
    overwrite: bool,
    register_model: bool,
) -> None:
    """``hpo finalize`` on an opened study: train the members, write the folder, log and register it."""
    from admet_hpo.finalize.build import finalize_study
    from admet_hpo.finalize.registry import log_ensemble
    from admet_hpo.tracking.keys import PARENT_RUN_ATTR

    def announce(index: int, count: int, member: MemberSpec) -> None:
        console.print(f"training member {index + 1}/{count}: {member.name}")

    final = finalize_study(
        study, optuna_study, top_k=top_k, seeds=seeds, folder=output, overwrite=overwrite, observer=announce
    )
    manifest = final.manifest
    trials = sorted({m.trial for m in manifest.members})
    if len(trials) < top_k:
        error_console.print(
            f"[yellow]warning:[/] asked for the top {top_k} trials, the study has {len(trials)} completed"
        )
    console.print(
        f"wrote ensemble {final.folder}: {len(manifest.members)} member(s) from trial(s) {trials}",
        soft_wrap=True,
    )
    console.print(_metrics_line(manifest), soft_wrap=True)
    if register_model:
        import os

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in our output
        parent = optuna_study.user_attrs.get(PARENT_RUN_ATTR)
        registered = log_ensemble(
            final.folder, manifest, study.mlflow_tracking_uri, parent if isinstance(parent, str) else None
        )
        console.print(
            f"MLflow run {registered.run_id}; registered model {registered.registered_name} "
            f"version {registered.version} ({registered.registry_uri})",
            soft_wrap=True,
        )


def _ensemble_folder(target: Path) -> Path:
    """An ensemble folder given directly, or the default ensemble folder of a study file."""
    from admet_hpo.errors import ConfigError

    if target.is_dir():
        return target
    if target.is_file() and target.suffix.lower() in (".yaml", ".yml"):
        from admet_hpo.finalize.build import default_ensemble_dir
        from admet_hpo.orchestration.session import StudySession

        with StudySession.open(target) as session:  # $ADMET_HPO_OUTPUT moves it, as for the study
            return default_ensemble_dir(session.study)
    raise ConfigError(
        f"{target}: no such ensemble folder or study file (give the folder 'hpo finalize' wrote, "
        "or the study's YAML file)"
    )


@user_errors
def predict_command(
    model: Path = typer.Argument(
        ..., metavar="MODEL_DIR_OR_STUDY", help="Ensemble folder, or a study file (its default ensemble)."
    ),
    input_path: Path = typer.Argument(..., metavar="INPUT", help="CSV or Parquet table with SMILES."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the predictions (CSV)."),
    smiles_col: str | None = typer.Option(
        None, "--smiles-col", help="SMILES column of INPUT (default: the training table's)."
    ),
) -> None:
    """Predict every row of INPUT with a finalized ensemble; write INPUT's columns plus, per task,
    <task> (the members' mean on the modelled scale, in the training table's raw units: data.transforms
    inverted) and <task>_sd (the members' standard deviation on the modelled scale, e.g. log10 units).

    A SMILES that RDKit cannot parse (or an empty cell) is reported with its line and left empty in the
    output; the exit status stays 0. An input column named like a prediction column is kept as
    <name>_input.
    """
    from admet_hpo.finalize.ensemble import load_ensemble
    from admet_hpo.finalize.tables import output_frame, read_smiles_input

    quiet_libraries()
    ensemble = load_ensemble(_ensemble_folder(model))
    source = read_smiles_input(input_path, smiles_col or ensemble.manifest.smiles_col)
    prediction = ensemble.predict(source.smiles)
    frame, renamed = output_frame(source, prediction)
    output.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(output, index=False)
    if renamed:
        error_console.print(
            f"note: input column(s) {renamed} renamed with the suffix _input in {output}", soft_wrap=True
        )
    if prediction.errors:
        error_console.print(
            f"[yellow]warning:[/] {len(prediction.errors)} of {len(source.smiles)} row(s) not predicted "
            f"(left empty in {output}):",
            soft_wrap=True,
        )
        for position, reason in prediction.errors.items():
            shown = source.smiles[position]
            text = "" if shown is None else f" {shown!r}"
            line = f"  {input_path}: {source.location(position)}:{text} {reason}"
            error_console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"wrote {output}: {len(source.smiles) - len(prediction.errors)} of {len(source.smiles)} row(s) "
        f"predicted by {len(ensemble.members)} member(s), tasks {', '.join(ensemble.task_names)}",
        soft_wrap=True,
    )
