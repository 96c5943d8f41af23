"""One trial: sample -> resolved training config -> train with the joint sampler -> prune or score.

The objective links each trial to its MLflow child run (run id as the trial's ``mlflow_run_id`` user
attribute) and closes that run with the trial's final state, whatever ends the trial: completion,
pruning, an exception, or Ctrl-C. Lightning turns Ctrl-C during training into ``SystemExit``; the
objective turns it back into ``KeyboardInterrupt`` so that Optuna records the trial FAIL and the caller
sees an interruption. Each trial records the worker that ran it (``worker`` = ``host:pid``) and the
applied share of every simplex key (user attribute ``<parameter>.<key>``, see
:mod:`admet_hpo.search.space`).

Per trial, the MLflow run gets (from the tracker's background thread, off the trial's path) the resolved
config, lineage tags, the training table as a dataset input, the final metrics, the Lightning
checkpoint, the chemprop model file ``best.pt`` (what ``chemprop predict`` loads) and the validation and
test predictions (``predictions.csv``, which the parent run's parity plot reads). The epochs' values
reach the study storage from a background thread as well (:mod:`admet_hpo.search.reporting`); the
objective waits for them where the pruner decides and before the trial ends.
"""

from __future__ import annotations

import math
import os
import socket
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState

from admet_hpo.masking import mask_text
from admet_hpo.search.algorithms import pruning_steps
from admet_hpo.search.reporting import BackgroundReports
from admet_hpo.search.space import apply_parameters, simplex_share_attrs, suggest
from admet_hpo.tracking.keys import (
    BASELINE_ATTR,
    DEVICE_ATTR,
    EPOCHS_ATTR,
    ERROR_ATTR,
    OUTPUT_ATTR,
    TEST_METRICS_ATTR,
    WORKER_ATTR,
    trial_parameters,
)

if TYPE_CHECKING:
    from admet_hpo.config.study import Study
    from admet_hpo.config.training import TrainingConfig
    from admet_hpo.data.table import MoleculeTable, SplitIndices
    from admet_hpo.tracking.tracker import StudyTracker
    from admet_hpo.training.run import TrainingResult

#: The ``error`` user attribute of a trial stopped by Ctrl-C or a stop signal.
INTERRUPTED_ERROR = "interrupted (Ctrl-C or a stop signal)"

EpochObserver = Callable[[int, int, dict[str, float]], None]
"""Called with ``(trial_number, epoch, metrics)`` after every epoch (e.g. the live display)."""


def trial_config(study: Study, values: dict[str, object], trial_number: int) -> TrainingConfig:
    """The resolved training config of a trial: base config + sampled values, own output folder."""
    config = apply_parameters(study.base_training, study.space, values)
    config.output_dir = Path(study.output_dir) / "trials" / f"trial-{trial_number:04d}"
    config.trainer = config.trainer.model_copy(update={"progress_bar": False})
    return config


def final_metrics(result: TrainingResult) -> dict[str, float]:
    """Per-task validation and test metrics of the best checkpoint as flat ``split/task/metric`` keys,
    with their task means (``test/mean_pearson_r`` ...) and ``split/task/bound_agreement`` for tasks with
    censored cells."""
    from admet_hpo.training.bound_metrics import flatten_bound_agreement
    from admet_hpo.training.metrics import flatten_task_metrics

    flat: dict[str, float] = {"best_val_loss": result.best_val_loss}
    for split, metrics in (("best_val", result.val_metrics), ("test", result.test_metrics)):
        if metrics:
            flat |= flatten_task_metrics(metrics, split)
    for split, bounds in (("best_val", result.val_bounds), ("test", result.test_bounds)):
        flat |= flatten_bound_agreement(bounds, split)
    return flat


def stored_test_metrics(result: TrainingResult) -> dict[str, float | None]:
    """The trial's :data:`~admet_hpo.tracking.keys.TEST_METRICS_ATTR`: final test metrics per task and
    their task means (``test/<task>/<metric>``, ``test/mean_<metric>``), NaN as None (JSON)."""
    from admet_hpo.training.metrics import flatten_task_metrics

    flat = flatten_task_metrics(result.test_metrics, "test") if result.test_metrics else {}
    return {key: value if math.isfinite(value) else None for key, value in flat.items()}


def _interrupted(exc: BaseException) -> bool:
    """Ctrl-C (or a stop signal turned into KeyboardInterrupt), also as the ``SystemExit`` Lightning
    raises while handling it (after which it ignores SIGINT)."""
    return isinstance(exc, KeyboardInterrupt) or (
        isinstance(exc, SystemExit) and isinstance(exc.__context__, KeyboardInterrupt)
    )


class TrialObjective:
    """The Optuna objective of a study in one worker process.

    ``data`` is the study's table and split, loaded once per worker; every trial trains on it. The value
    returned is the study metric: ``val_loss`` is the best epoch's validation loss; any other metric is
    read from the best epoch's record (e.g. ``val/mean_rmse``). ``trial_attrs`` are set as user
    attributes on every trial this objective runs (e.g. the night of a nightly sweep).
    """

    def __init__(
        self,
        study: Study,
        tracker: StudyTracker,
        data: tuple[MoleculeTable, SplitIndices],
        observer: EpochObserver | None = None,
        trial_attrs: dict[str, object] | None = None,
    ) -> None:
        self.study = study
        self.tracker = tracker
        self.data = data
        self.observer = observer
        self.trial_attrs = dict(trial_attrs or {})
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.prunes_at = pruning_steps(study)
        #: The MLflow run of the trial this objective runs or ran last (None before its run exists).
        self.run_id: str | None = None

    def tag(self, trial: optuna.Trial) -> None:
        """Set ``trial_attrs`` and the worker as the trial's user attributes (the caller does it first,
        before the trial counts against a budget that selects trials by them)."""
        for key, value in {**self.trial_attrs, WORKER_ATTR: self.worker}.items():
            trial.set_user_attr(key, value)

    def __call__(self, trial: optuna.Trial) -> float:
        """Train one trial (tagged by :meth:`tag` already) and return its metric value."""
        from admet_hpo.training.run import train

        self.run_id = None
        values = suggest(trial, self.study.space)
        for key, share in simplex_share_attrs(self.study.space, values).items():  # even if config fails
            trial.set_user_attr(key, share)
        config = trial_config(self.study, values, trial.number)
        trial.set_user_attr(OUTPUT_ATTR, str(config.output_dir))
        run_id = self.run_id = self.tracker.start_trial(trial)
        self.tracker.defer(self.tracker.log_config, run_id, config.model_dump(mode="json"))
        table, split = self.data
        self.tracker.defer(self.tracker.log_lineage, run_id, table.content_hash, split.split_hash)
        self.tracker.defer(self.tracker.log_training_table, run_id, table, split)
        epochs: list[int] = []
        reports = BackgroundReports(trial)

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            epochs.append(epoch)
            self.tracker.log_epoch_metrics(run_id, metrics, step=epoch)
            if self.observer is not None:
                self.observer(trial.number, epoch, metrics)
            value = metrics.get(self.study.metric)
            if value is None or not math.isfinite(value):
                return
            reports.report(value, epoch)
            if not self.prunes_at(epoch):
                return
            reports.wait()  # the pruner reads the trial's values from the storage
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} ({self.study.metric} = {value:.4g})")

        try:
            try:
                with reports:  # every report is stored before the trial ends
                    result = train(config, listeners=[on_epoch], progress_bar=False, data=self.data)
            finally:  # once per trial, not per epoch: the storage is written when the count means something
                trial.set_user_attr(EPOCHS_ATTR, len(epochs))
        except optuna.TrialPruned:
            self.tracker.defer(self.tracker.finish_trial, run_id, TrialState.PRUNED)
            raise
        except BaseException as exc:
            interrupted = _interrupted(exc)
            message = INTERRUPTED_ERROR if interrupted else mask_text(f"{type(exc).__name__}: {exc}")
            trial.set_user_attr(ERROR_ATTR, message[:2000])
            self.tracker.finish_trial(run_id, TrialState.FAIL, error=message + "\n" + traceback.format_exc())
            if interrupted and not isinstance(exc, KeyboardInterrupt):
                raise KeyboardInterrupt from exc
            raise
        value = self.metric_value(result)
        trial.set_user_attr(DEVICE_ATTR, result.device)
        test_metrics = stored_test_metrics(result)
        trial.set_user_attr(TEST_METRICS_ATTR, test_metrics)
        self.tracker.defer(self.tracker.log_final_metrics, run_id, final_metrics(result))
        self.tracker.defer(self.tracker.log_checkpoint, run_id, result.checkpoint_path)
        self.tracker.defer(self.tracker.log_file, run_id, result.model_path)
        if result.predictions_path is not None:
            self.tracker.defer(self.tracker.log_file, run_id, result.predictions_path)
        self.tracker.defer(self.tracker.finish_trial, run_id, TrialState.COMPLETE, value=value)
        self.tracker.defer(self._save_note, trial, run_id, result.epochs_run, value, test_metrics)
        return value

    def metric_value(self, result: TrainingResult) -> float:
        """The study metric of a finished training (see :meth:`metric_value_of`)."""
        return self.metric_value_of(self.study.metric, result)

    @staticmethod
    def metric_value_of(metric: str, result: TrainingResult) -> float:
        """``val_loss``: the best epoch's validation loss; any other metric: its value at that epoch."""
        if metric == "val_loss":
            return result.best_val_loss
        best_epoch = min(result.history, key=lambda record: record.get("val_loss", math.inf))
        if metric not in best_epoch:
            raise KeyError(f"metric {metric!r} is not among the epoch metrics {sorted(best_epoch)}")
        return float(best_epoch[metric])

    def _save_note(
        self,
        trial: optuna.Trial,
        run_id: str,
        epochs: int,
        value: float,
        test_metrics: dict[str, float | None],
    ) -> None:
        """The trial's dashboard note: study metric, epochs and test metrics, beside the baseline trial's
        when the study has a completed one (see :mod:`admet_hpo.search.baseline`). Called on the
        tracker's background thread (a note is a study attribute of optuna-dashboard, writable after the
        trial has finished), so its storage reads and writes are off the trial's path."""
        from admet_hpo.search.baseline import find_baseline
        from admet_hpo.tracking.notes import dashboard_note, save_trial_note
        from admet_hpo.tracking.ui import MlflowUi

        metrics: dict[str, float | None] = {self.study.metric: value, "epochs": float(epochs)}
        metrics |= test_metrics
        is_baseline = trial.user_attrs.get(BASELINE_ATTR) is True
        baseline = None if is_baseline else find_baseline(trial.study.get_trials(deepcopy=False))
        compared = None
        if baseline is not None and baseline.state == TrialState.COMPLETE:
            compared = {self.study.metric: baseline.value, "epochs": baseline.user_attrs.get(EPOCHS_ATTR)}
            compared |= baseline.user_attrs.get(TEST_METRICS_ATTR, {})
        ui = MlflowUi.of(self.study)
        local = ui.start_command is not None  # no tracking server: the artifacts are a folder to show
        note = dashboard_note(
            trial.number,
            metrics,
            run_id,
            ui.run_url(self.tracker.experiment_id, run_id),
            parameters=trial_parameters(trial.params, trial.user_attrs),
            artifacts=self.tracker.run_link(run_id) if local else None,
            ui_command=ui.start_command,
            baseline=compared,
            baseline_number=None if baseline is None else baseline.number,
            is_baseline=is_baseline,
        )
        save_trial_note(trial, note)
