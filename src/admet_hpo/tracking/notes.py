"""Links from a trial to its MLflow run: the run page URL and the optuna-dashboard note (Markdown)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import optuna


def server_base_url(uri: str) -> str | None:
    """``scheme://host[:port][/path]`` of an ``http(s)`` URI, credentials, query and fragment dropped (a
    browser asks for credentials); None for every other URI (a SQLite or file store has no web page)."""
    parts = urlsplit(uri)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def trial_run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str | None:
    """The tracking server's page of a run, ``{uri}/#/experiments/{experiment}/runs/{run}``, for an
    ``http(s)`` tracking URI (see :func:`server_base_url`); None for every other store."""
    base = server_base_url(tracking_uri)
    return None if base is None else f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def _markdown_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _format_value(value: float | None) -> str:
    if value is None:
        return "–"
    value = float(value)
    return str(value) if math.isnan(value) or math.isinf(value) else f"{value:.6g}"


def _format_parameter(value: object) -> str:
    return _format_value(value) if isinstance(value, float) else str(value)


def dashboard_note(
    trial_number: int,
    metrics: Mapping[str, float | None],
    run_id: str,
    link: str | None,
    *,
    parameters: Mapping[str, object] | None = None,
    artifacts: str | None = None,
    ui_command: str | None = None,
    baseline: Mapping[str, float | None] | None = None,
    baseline_number: int | None = None,
    is_baseline: bool = False,
) -> str:
    """Markdown for a trial's optuna-dashboard note: a table of ``metrics`` (in the given order), a table
    of the ``parameters`` as applied (simplex shares, not raw draws; see
    :func:`admet_hpo.tracking.keys.trial_parameters`) and the MLflow run.

    ``link`` is the run page URL (``http(s)``, rendered as a link on the run id) or a local path or
    artifact URI (shown as code beside the run id); None shows the run id only. ``artifacts`` (a local
    artifact folder) is shown beside a run page link; ``ui_command`` is the command that serves the
    MLflow UI the link points to, for a store that has no server of its own.

    ``baseline`` (the same keys, from the study's baseline trial ``baseline_number``) adds a column with
    its values beside this trial's; ``is_baseline`` titles the note as the baseline trial's. A value of
    None (missing) shows as a dash.
    """
    title = f"### Trial {trial_number}" + (" (baseline: the base training config)" if is_baseline else "")
    lines = [title, ""]
    if metrics and baseline is not None:
        lines += [f"| metric | this trial | baseline (trial {baseline_number}) |", "|---|---|---|"]
        lines += [
            f"| {_markdown_cell(name)} | {_format_value(v)} | {_format_value(baseline.get(name))} |"
            for name, v in metrics.items()
        ]
        lines.append("")
    elif metrics:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {_markdown_cell(name)} | {_format_value(v)} |" for name, v in metrics.items()]
        lines.append("")
    if parameters:
        lines += ["| parameter (as applied) | value |", "|---|---|"]
        lines += [
            f"| {_markdown_cell(name)} | {_markdown_cell(_format_parameter(v))} |"
            for name, v in parameters.items()
        ]
        lines.append("")
    if link is not None and link.lower().startswith(("http://", "https://")):
        lines.append(f"MLflow run: [{run_id}]({link})")
        if artifacts is not None:
            lines[-1] += f" (artifacts: `{artifacts}`)"
    elif link is not None:
        lines.append(f"MLflow run: `{run_id}` (artifacts: `{link}`)")
    else:
        lines.append(f"MLflow run: `{run_id}`")
    if ui_command is not None:
        lines += ["", f"The link needs the MLflow UI of this store: `{ui_command}`"]
    return "\n".join(lines) + "\n"


def save_trial_note(trial: optuna.Trial, markdown: str) -> None:
    """Store ``markdown`` as the optuna-dashboard note of ``trial`` (the running trial an objective
    holds, or a finished one), replacing an earlier note."""
    from optuna_dashboard import save_note

    save_note(trial, markdown)
