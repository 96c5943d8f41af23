"""What ``hpo best`` and the end of ``hpo run`` say about a study's best trial.

:func:`best_report` builds the data once (the human-readable text and JSON both come from it): the
trial's value, its parameters in full as applied (simplex shares; the raw draws beside them), where its
model is (the ``best.pt`` file of its output folder and the MLflow artifact), and the two commands that
open this study in optuna-dashboard and in the MLflow UI.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from admet_hpo.masking import mask_url
from admet_hpo.tracking.keys import trial_parameters
from admet_hpo.tracking.ui import MlflowUi

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial
    from rich.console import Console

    from admet_hpo.config.study import Study

#: The file name of a trial's chemprop model, in its output folder and among its MLflow artifacts.
MODEL_FILE = "best.pt"


@dataclass(frozen=True)
class BestReport:
    """The best trial of a study and how to look at it.

    ``params``: every parameter as applied (a simplex share under ``<parameter>.<key>``);
    ``raw_params``: the parameters as Optuna stores them (raw simplex draws under ``<...>.raw``).
    ``model_path``: the trial's ``best.pt`` (None when the trial has no output folder recorded);
    ``model_artifact``: the same file as an MLflow artifact URI (``runs:/<run id>/best.pt``).
    ``mlflow_url``: the trial's run page (or the UI's front page when the experiment is unknown);
    ``mlflow_ui_command``: the command that serves that UI, None for a tracking server.
    ``test_metrics``: the trial's test metrics (``test/<task>/<metric>``, ``test/mean_<metric>``);
    ``baseline``: the study's baseline trial (number, state, value, test metrics), None without one.
    """

    study: str
    trial: int
    value: float | None
    params: dict[str, Any]
    raw_params: dict[str, Any]
    mlflow_run_id: str | None
    model_path: str | None
    model_artifact: str | None
    dashboard_command: str
    mlflow_url: str
    mlflow_ui_command: str | None
    test_metrics: dict[str, float | None] | None = None
    baseline: dict[str, Any] | None = None


def dashboard_command(study: Study, storage_url: str) -> str:
    """The ``hpo dashboard`` command line that serves this study's storage (``--storage``, masked, when
    it is not the study file's own)."""
    command = ["hpo", "dashboard", str(study.source)]
    if storage_url != study.storage:
        command += ["--storage", mask_url(storage_url)]
    return shlex.join(command)


def best_report(study: Study, optuna_study: optuna.Study, trial: FrozenTrial, storage_url: str) -> BestReport:
    """The report of ``trial`` (normally the best) of ``optuna_study``, opened on ``storage_url``."""
    from admet_hpo.search.baseline import find_baseline
    from admet_hpo.tracking.keys import EXPERIMENT_ATTR, OUTPUT_ATTR, RUN_ID_ATTR, TEST_METRICS_ATTR

    run_id = trial.user_attrs.get(RUN_ID_ATTR)
    output = trial.user_attrs.get(OUTPUT_ATTR)
    experiment = optuna_study.user_attrs.get(EXPERIMENT_ATTR)
    ui = MlflowUi.of(study)
    if experiment is None:
        url = ui.base_url
    elif run_id is None:
        url = ui.experiment_url(str(experiment))
    else:
        url = ui.run_url(str(experiment), run_id)
    baseline = find_baseline(optuna_study.get_trials(deepcopy=False))
    return BestReport(
        study=optuna_study.study_name,
        trial=trial.number,
        value=trial.value,
        params=trial_parameters(trial.params, trial.user_attrs),
        raw_params=dict(trial.params),
        mlflow_run_id=run_id,
        model_path=None if output is None else str(Path(output) / MODEL_FILE),
        model_artifact=None if run_id is None else f"runs:/{run_id}/{MODEL_FILE}",
        dashboard_command=dashboard_command(study, storage_url),
        mlflow_url=url,
        mlflow_ui_command=ui.start_command,
        test_metrics=trial.user_attrs.get(TEST_METRICS_ATTR),
        baseline=None
        if baseline is None
        else {
            "trial": baseline.number,
            "state": baseline.state.name,
            "value": baseline.value,
            "test_metrics": baseline.user_attrs.get(TEST_METRICS_ATTR),
        },
    )


def _shown(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def print_best_report(console: Console, report: BestReport) -> None:
    """Print the report in full: no parameter is cut, every path and command on its own line."""
    value = "none" if report.value is None else f"{report.value:.6g}"
    console.print(f"best trial [bold]{report.trial}[/] of {escape(report.study)}: value {value}")
    raw = {name: v for name, v in report.raw_params.items() if name not in report.params}
    for name, v in report.params.items():
        console.print(f"  {escape(name)} = {escape(_shown(v))}", soft_wrap=True)
    if raw:
        console.print(
            "  raw simplex draws: " + ", ".join(f"{escape(n)}={escape(_shown(v))}" for n, v in raw.items()),
            soft_wrap=True,
            style="dim",
        )
    lines = [
        ("model", report.model_path),
        ("mlflow run", report.mlflow_run_id),
        ("model in MLflow", report.model_artifact),
        ("dashboard", report.dashboard_command),
        ("MLflow UI", report.mlflow_url),
        ("start the MLflow UI", report.mlflow_ui_command),
    ]
    for label, text in lines:
        if text is not None:
            console.print(f"  {label}: {escape(text)}", soft_wrap=True, highlight=False)
