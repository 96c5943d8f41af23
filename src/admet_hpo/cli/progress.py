"""What a person sees while a study runs: a live rich panel, one JSON line per trial, or nothing."""

from __future__ import annotations

import math
import time
from typing import Literal

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from admet_hpo.tracking.keys import EPOCHS_ATTR, RUN_ID_ATTR, trial_parameters

OutputMode = Literal["live", "json", "quiet"]


def _value(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


def _params(params: dict[str, object], limit: int = 6) -> str:
    shown = [f"{k}={_value(v) if isinstance(v, float) else v}" for k, v in list(params.items())[:limit]]
    return ", ".join(shown) + (" …" if len(params) > limit else "")


class StudyProgress:
    """Shows a running study: an Optuna trial callback, a per-epoch observer and a storage poller.

    Counts and the best trial are read from the study's storage, so they include trials of earlier runs
    and of other workers. ``mode="live"`` redraws a panel (finished trials / budget, pruned, failed, best
    value and parameters, the current trial's epoch); ``"json"`` prints one JSON line per trial that
    finishes during the run; ``"quiet"`` prints nothing. Use it as a context manager around the run.
    """

    def __init__(
        self,
        console: Console,
        budget: int | None,
        mode: OutputMode = "live",
        study: optuna.Study | None = None,
    ) -> None:
        self.console = console
        self.budget = budget
        self.mode = mode
        self.counts = {TrialState.COMPLETE: 0, TrialState.PRUNED: 0, TrialState.FAIL: 0}
        self.best: FrozenTrial | None = None
        self.current: tuple[int, int, float | None] | None = None
        self.started = time.monotonic()
        self._reported: set[int] = set()
        self._live: Live | None = None
        if study is not None:
            finished = study.get_trials(deepcopy=False, states=tuple(self.counts))
            self._reported = {t.number for t in finished}
            self.sync(study)

    def __enter__(self) -> StudyProgress:
        if self.mode == "live":
            self._live = Live(self.render(), console=self.console, refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.__exit__(None, None, None)

    def on_epoch(self, trial_number: int, epoch: int, metrics: dict[str, float]) -> None:
        """Observer of each training epoch (see :class:`~admet_hpo.search.objective.TrialObjective`)."""
        self.current = (trial_number, epoch, metrics.get("val_loss"))
        self._refresh()

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna callback after each finished trial of this process."""
        self.current = None
        self.sync(study)

    def sync(self, study: optuna.Study) -> None:
        """Re-read counts and the best trial from storage; in JSON mode print newly finished trials."""
        trials = study.get_trials(deepcopy=False, states=tuple(self.counts))
        self.counts = {state: sum(t.state == state for t in trials) for state in self.counts}
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        self.best = study.best_trial if complete else None
        for trial in trials:
            if trial.number not in self._reported:
                self._reported.add(trial.number)
                if self.mode == "json":
                    self._print_json(trial)
        self._refresh()

    def _print_json(self, trial: FrozenTrial) -> None:
        from admet_hpo.cli.json_output import TrialRecord, json_line

        self.console.file.write(json_line(TrialRecord.of(trial)) + "\n")
        self.console.file.flush()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.render())

    def render(self) -> Group:
        """The live panel."""
        done = self.counts[TrialState.COMPLETE] + self.counts[TrialState.PRUNED]
        budget = "∞" if self.budget is None else str(self.budget)
        elapsed = time.monotonic() - self.started
        header = Text.assemble(
            ("finished ", "bold"),
            f"{done}/{budget}  ",
            ("complete ", "green"),
            f"{self.counts[TrialState.COMPLETE]}  ",
            ("pruned ", "yellow"),
            f"{self.counts[TrialState.PRUNED]}  ",
            ("failed ", "red"),
            f"{self.counts[TrialState.FAIL]}  ",
            f"elapsed {elapsed:,.0f}s",
        )
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        if self.best is not None:
            table.add_row("best", f"trial {self.best.number}: {_value(self.best.value)}")
            table.add_row("params", _params(trial_parameters(self.best.params, self.best.user_attrs)))
        if self.current is not None:
            number, epoch, val_loss = self.current
            table.add_row("running", f"trial {number}, epoch {epoch + 1}, val_loss {_value(val_loss)}")
        return Group(header, table)


def trials_table(study: optuna.Study, key_params: int = 4) -> Table:
    """A table of every trial: number, state, value, key parameters (as applied: simplex shares, not raw
    draws), epochs run, MLflow run id, and the SLURM array task (``<job>_<task>``) that ran it when any
    trial ran in a SLURM job array. The baseline trial (the base training config) is marked
    ``(baseline)`` beside its number."""
    trials = study.get_trials(deepcopy=False)
    from admet_hpo.orchestration.slurm import slurm_task_label
    from admet_hpo.tracking.keys import BASELINE_ATTR

    shown = [trial_parameters(t.params, t.user_attrs) for t in trials]
    names = sorted({name for params in shown for name in params})[:key_params]
    tasks = [slurm_task_label(t.user_attrs) for t in trials]
    placed = any(task is not None for task in tasks)  # the column only for studies run as job arrays
    table = Table(title=f"study {study.study_name}", title_justify="left")
    columns = ("#", "state", "value", *names, "epochs", "mlflow run", *(["slurm task"] if placed else []))
    for column in columns:
        table.add_column(column, justify="right" if column in ("#", "value", "epochs") else "left")
    for t, params, task in zip(trials, shown, tasks, strict=True):
        cells = [
            _value(params[n]) if isinstance(params.get(n), float) else str(params.get(n, "–")) for n in names
        ]
        table.add_row(
            f"{t.number} (baseline)" if t.user_attrs.get(BASELINE_ATTR) is True else str(t.number),
            t.state.name,
            _value(t.value),
            *cells,
            str(t.user_attrs.get(EPOCHS_ATTR, len(t.intermediate_values))),
            str(t.user_attrs.get(RUN_ID_ATTR, "–")),
            *([task or "–"] if placed else []),
        )
    return table
