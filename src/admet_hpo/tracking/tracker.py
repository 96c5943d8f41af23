"""Linking an Optuna study to MLflow: one experiment and one parent run per study, one child run per trial.

Every call names its run explicitly through an :class:`mlflow.MlflowClient`; nothing uses MLflow's global
active-run stack, so trials in several threads or processes never interfere. The study keeps the parent
run id as the user attribute ``mlflow_parent_run_id`` and each trial keeps its run id as ``mlflow_run_id``
(optuna-dashboard shows both). Passwords are masked in every param, tag and logged config.

MLflow is imported lazily (it costs seconds), so importing this module is cheap.

What MLflow users find: every run carries MLflow's system tags (``mlflow.user``, ``mlflow.source.name``
= the study file, ``mlflow.source.type`` = LOCAL, ``mlflow.source.git.commit``); a trial run has the
trial's parameters as applied (a simplex share as ``condition_ratio.human``) and its raw draws
(``condition_ratio.human.raw``), the training table as a dataset input, the chemprop model file
``best.pt`` and the Lightning checkpoint; the parent run has the study's summary (best value, best trial,
trial counts, the delta to the baseline trial; :meth:`StudyTracker.log_study_summary`), updated after
every trial, and the study's plots (:meth:`StudyTracker.log_study_plots`).

Cost on the trial's path: parameters and tags go through MLflow's asynchronous logging
(``log_batch(..., synchronous=False)``); per-epoch metrics are buffered and sent, asynchronously, at most
every :data:`EPOCH_FLUSH_SECONDS` (so the MLflow UI lags the training by that much at most), and
:meth:`StudyTracker.finish_trial` sends the rest before closing the run (MLflow accepts metrics of a
closed run, so the closing does not wait for them); :meth:`StudyTracker.flush` waits for everything.

Lifecycle of one worker process::

    ensure_tracking_store(uri)            # once, in the launching process, before any worker starts
    tracker = StudyTracker(uri)
    tracker.start_study(study, storage_url=storage)
    run_id = tracker.start_trial(trial)   # after the trial's parameters are sampled
    tracker.log_epoch_metrics(run_id, {"train_loss": ..., "val_loss": ...}, step=epoch)
    tracker.finish_trial(run_id, TrialState.COMPLETE, value=best_val_loss)
"""

from __future__ import annotations

import functools
import getpass
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from admet_hpo.masking import mask_data, mask_text, mask_url
from admet_hpo.tracking.keys import (
    BASELINE_ATTR,
    BASELINE_DELTA_METRIC,
    BASELINE_VALUE_METRIC,
    BEST_PARAM_TAG_PREFIX,
    BEST_TRIAL_METRIC,
    BEST_VALUE_METRIC,
    DIRECTIONS_TAG,
    ERROR_TAG,
    EXPERIMENT_ATTR,
    GIT_COMMIT_TAG,
    LINEAGE_TAG_PREFIX,
    PARENT_RUN_ATTR,
    PARENT_RUN_TAG,
    PRUNER_TAG,
    ROLE_TAG,
    RUN_ID_ATTR,
    SAMPLER_TAG,
    SOURCE_NAME_TAG,
    SOURCE_TYPE_TAG,
    STATE_TAG,
    STORAGE_TAG,
    STUDY_NAME_TAG,
    TRIAL_COUNT_METRICS,
    TRIAL_NUMBER_TAG,
    USER_TAG,
    VALUE_METRIC,
    mlflow_key,
    trial_parameters,
)
from admet_hpo.tracking.lineage import Lineage, collect_lineage
from admet_hpo.tracking.notes import trial_run_url
from admet_hpo.tracking.plots import figure_html, study_figures, study_images
from admet_hpo.tracking.status import run_status
from admet_hpo.tracking.store import default_artifact_root, experiment_artifact_location
from admet_hpo.tracking.trial_plots import BestTrialData, best_trial_figures, best_trial_images

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    import optuna
    from mlflow.entities import Metric, Run
    from mlflow.utils.async_logging.run_operations import RunOperations
    from optuna.trial import FrozenTrial, TrialState

    from admet_hpo.data.table import MoleculeTable, SplitIndices

#: Artifact names of a trial run: the chemprop model file and the validation/test predictions.
MODEL_ARTIFACT = "best.pt"
PREDICTIONS_ARTIFACT = "predictions.csv"
#: The per-epoch metrics of the best trial's learning curve.
LEARNING_CURVE_METRICS = ("train_loss", "val_loss")

STALE_RUN_ERROR = "the worker running this trial stopped; the trial was failed by its heartbeat"

#: Longest time per-epoch metrics wait in the buffer before they are sent.
EPOCH_FLUSH_SECONDS = 10.0

_MAX_METRICS_PER_BATCH = 1000
_MAX_PARAMS_OR_TAGS_PER_BATCH = 100
_MAX_ERROR_LENGTH = 4000

T = TypeVar("T")


def _user() -> str:
    """The user name MLflow records as ``mlflow.user`` (``unknown`` when the system has none)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class _PendingRun:
    """What a trial's run still owes MLflow: buffered epoch metrics and asynchronous operations."""

    metrics: list[Metric] = field(default_factory=list)
    operations: list[RunOperations] = field(default_factory=list)
    last_flush: float = field(default_factory=time.monotonic)


class StudyTracker:
    """MLflow tracking of one Optuna study from one process (create one per worker process).

    ``tracking_uri`` is any MLflow tracking URI. For a ``sqlite:///`` store, artifacts go to
    ``mlartifacts/<study>`` beside the database unless ``artifact_root`` says otherwise.
    """

    def __init__(self, tracking_uri: str, *, artifact_root: str | None = None) -> None:
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri)
        self._artifact_root = (
            artifact_root if artifact_root is not None else default_artifact_root(tracking_uri)
        )
        self._study: tuple[str, str] | None = None  # (experiment id, parent run id) once start_study ran
        self._pending: dict[str, _PendingRun] = {}  # per trial run: buffered metrics, unfinished operations
        self._links: dict[str, str] = {}  # run id -> where a person finds it (see run_link)
        #: Run ids close_stale_runs need not check: closed or seen closed, or started by this tracker (its
        #: own trials' runs are closed by their own path, often on the background thread).
        self._settled: set[str] = set()
        self._unfinished: list[RunOperations | Future[None]] = []  # asynchronous work not yet waited for
        self._background: ThreadPoolExecutor | None = None  # runs deferred calls, one at a time, in order
        # MLflow's asynchronous logging queue is one per store and not safe to use while another thread
        # closes a run (set_terminated shuts the queue down): every use of it here holds this lock
        self._async_queue = threading.RLock()
        self._source_name = "hpo"  # mlflow.source.name: the study file once start_study has seen it

    # ----------------------------------------------------------------------------------------- study level

    @property
    def experiment_id(self) -> str:
        """The study's MLflow experiment id (after :meth:`start_study`)."""
        return self._started()[0]

    @property
    def parent_run_id(self) -> str:
        """The study's parent run id (after :meth:`start_study`)."""
        return self._started()[1]

    @functools.cached_property
    def lineage(self) -> Lineage:
        """Git commit and package versions of this process, collected on first use."""
        return collect_lineage()

    def start_study(
        self, study: optuna.Study, *, storage_url: str | None = None, tags: Mapping[str, str] | None = None
    ) -> str:
        """Join the study's experiment (named after the study) and parent run, creating them if needed;
        return the parent run id.

        The first caller creates the experiment and the parent run and records their ids in the study's
        user attributes (``mlflow_experiment_id``, ``mlflow_parent_run_id``); later callers (other
        workers, later nights) reuse both, and a parent run that was closed by :meth:`finish_study` is
        set RUNNING again. A deleted experiment is restored; a deleted parent run is replaced. Call it
        once in the launching process before workers start (workers starting at the very same moment
        could otherwise each create a parent run; the loser of a detected race deletes its own).
        ``storage_url`` is recorded masked; ``tags`` are added to a new parent run.
        """
        experiment_id = self._experiment(study.study_name)
        attrs = study.user_attrs
        self._source_name = str(attrs.get("study_file", self._source_name))
        if attrs.get(EXPERIMENT_ATTR) != experiment_id:
            study.set_user_attr(EXPERIMENT_ATTR, experiment_id)
        recorded = attrs.get(PARENT_RUN_ATTR)
        existing = self._live_run(recorded, experiment_id) if isinstance(recorded, str) else None
        if existing is None:
            parent = self._create_parent(study, experiment_id, storage_url, tags or {})
        else:
            parent = existing.info.run_id
            if existing.info.status != "RUNNING":
                self._client.update_run(parent, status="RUNNING")
        self._study = (experiment_id, parent)
        return parent

    def finish_study(self, status: str = "FINISHED") -> None:
        """Close the parent run with ``status`` (FINISHED, or FAILED after an invocation that did not
        succeed); a later :meth:`start_study` reopens it."""
        with self._async_queue:
            self._client.set_terminated(self.parent_run_id, status=status)

    def log_study_plots(self, parent_run_id: str, study: optuna.Study) -> list[str]:
        """Log the study's plots on the parent run, replacing earlier versions, and return the artifact
        paths logged (none while no trial has completed). Call it once per invocation, after its trials.

        Each plot is ``plots/<name>.html`` (interactive, masked, loading plotly.js from its CDN, so each
        page stays small; see :func:`~admet_hpo.tracking.plots.figure_html`) and ``plots/<name>.png`` (for
        reports and offline reading): the study plots of
        :func:`~admet_hpo.tracking.plots.study_figures` and, of the best trial, its learning curve and
        per-task parity plot (read from its run: :data:`LEARNING_CURVE_METRICS` and
        :data:`PREDICTIONS_ARTIFACT`)."""
        import matplotlib.pyplot as plt

        best = self._best_trial_data(study)
        figures = study_figures(study)
        images = study_images(study)
        if best is not None:
            figures |= best_trial_figures(best)
            images |= best_trial_images(best)
        logged = []
        for stem, figure in figures.items():
            self._client.log_text(parent_run_id, figure_html(figure), f"plots/{stem}.html")
            logged.append(f"plots/{stem}.html")
        for stem, image in images.items():
            self._client.log_figure(parent_run_id, image, f"plots/{stem}.png")
            plt.close(image)
            logged.append(f"plots/{stem}.png")
        return logged

    def _best_trial_data(self, study: optuna.Study) -> BestTrialData | None:
        """The best completed trial's learning curve and predictions, read from its MLflow run (None when
        no trial has completed or its run is unknown)."""
        import pandas as pd
        from mlflow.exceptions import MlflowException

        best = _best_completed(study)
        run_id = None if best is None else best.user_attrs.get(RUN_ID_ATTR)
        if best is None or not isinstance(run_id, str):
            return None
        curves = {
            name: [(m.step, m.value) for m in self._client.get_metric_history(run_id, name)]
            for name in LEARNING_CURVE_METRICS
        }
        predictions = None
        with tempfile.TemporaryDirectory() as folder:
            try:
                path = self._client.download_artifacts(run_id, PREDICTIONS_ARTIFACT, folder)
            except (MlflowException, OSError):  # a trial of an older version logged no predictions
                path = None
            if path is not None:
                predictions = pd.read_csv(path)
        return BestTrialData(best.number, curves, predictions)

    def log_study_summary(self, study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> None:
        """Log the study's state on its parent run (call it after every trial). ``trials`` is the study's
        trials as of the moment to record (default: read from the storage now); a caller that defers this
        call to the tracker's thread passes the trials it saw, so each summary is the one of its moment.

        Metrics, at step = number of finished trials: ``trials_complete`` / ``trials_pruned`` /
        ``trials_failed``, and once a trial has completed ``best_value`` and ``best_trial``; when a
        completed trial has the user attribute ``baseline`` = True (the latest such trial),
        ``baseline_value`` and ``best_minus_baseline`` (best value minus baseline value). Tags
        ``best.<parameter>``: the best trial's parameters as applied (tags, not params, because they
        change as the study goes on and MLflow params are immutable); tags of an earlier best trial's
        parameters that the new best lacks are deleted."""
        from mlflow.entities import Metric, RunTag

        parent = self.parent_run_id
        if trials is None:
            trials = study.get_trials(deepcopy=False)
        counts = {name: sum(t.state.name == name for t in trials) for name in TRIAL_COUNT_METRICS}
        values: dict[str, float] = {TRIAL_COUNT_METRICS[name]: count for name, count in counts.items()}
        tags: dict[str, str] = {}
        best = _best_completed(study, trials)
        if best is not None:
            values |= {BEST_VALUE_METRIC: float(best.value), BEST_TRIAL_METRIC: best.number}
            shown = trial_parameters(best.params, best.user_attrs)
            tags = {mlflow_key(BEST_PARAM_TAG_PREFIX + name): mask_text(str(v)) for name, v in shown.items()}
            baselines = [
                t for t in trials if t.state.name == "COMPLETE" and t.user_attrs.get(BASELINE_ATTR) is True
            ]
            if baselines:
                baseline = float(baselines[-1].value)
                values |= {
                    BASELINE_VALUE_METRIC: baseline,
                    BASELINE_DELTA_METRIC: float(best.value) - baseline,
                }
        step = sum(counts.values())
        timestamp = int(time.time() * 1000)
        metrics = [Metric(key, value, timestamp, step) for key, value in values.items()]
        self._client.log_batch(parent, metrics=metrics, tags=[RunTag(k, v) for k, v in tags.items()])
        stale = [
            key
            for key in self._client.get_run(parent).data.tags
            if key.startswith(BEST_PARAM_TAG_PREFIX) and key not in tags
        ]
        for key in stale:
            self._client.delete_tag(parent, key)

    def close_stale_runs(self, study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> list[str]:
        """Close the runs still RUNNING of trials that have finished, typically trials failed by heartbeat
        after their worker died: each gets the status of its trial's state (FAIL -> FAILED with
        :data:`STALE_RUN_ERROR` as ``optuna.error``). Returns the run ids closed.

        Runs this tracker started, closed or found closed before are not asked about again, so MLflow is
        only searched while some other finished trial's run has not been seen closed (and a run of this
        worker whose closing is still deferred is never closed twice)."""
        from optuna.trial import TrialState

        finished_states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        if trials is None:
            trials = study.get_trials(deepcopy=False)
        trials_by_run = {
            trial.user_attrs[RUN_ID_ATTR]: trial
            for trial in trials
            if trial.state in finished_states
            and trial.user_attrs.get(RUN_ID_ATTR) not in self._settled | {None}
        }
        if not trials_by_run:
            return []
        experiment = self._client.get_experiment_by_name(study.study_name)
        if experiment is None:
            return []
        running = {run.info.run_id for run in self._running_runs(experiment.experiment_id)}
        closed = []
        for run_id, trial in trials_by_run.items():
            if run_id not in running:
                self._settled.add(run_id)
                continue
            error = STALE_RUN_ERROR if trial.state == TrialState.FAIL else None
            self.finish_trial(run_id, trial.state, value=trial.value, error=error)
            closed.append(run_id)
        return closed

    # ----------------------------------------------------------------------------------------- trial level

    def start_trial(self, trial: optuna.Trial) -> str:
        """Create the trial's child run under the parent run and return its id.

        Tags: ``mlflow.parentRunId``, ``optuna.study_name``, ``optuna.trial_number``, ``optuna.state`` =
        RUNNING and MLflow's system tags. The run id is stored as the trial's user attribute
        ``mlflow_run_id``, and the parameters sampled so far are logged (call it after sampling and after
        recording simplex shares; :meth:`log_params` adds later ones): the applied values (a simplex share
        under ``<parameter>.<key>``) and the raw draws under their Optuna names (``<parameter>.<key>.raw``),
        on the background thread (:meth:`defer`).
        """
        experiment_id, parent = self._started()
        run = self._client.create_run(
            experiment_id,
            run_name=f"trial-{trial.number}",
            tags={
                PARENT_RUN_TAG: parent,
                ROLE_TAG: "trial",
                STUDY_NAME_TAG: trial.study.study_name,
                TRIAL_NUMBER_TAG: str(trial.number),
                STATE_TAG: "RUNNING",
                **self._system_tags(),
            },
        )
        run_id = run.info.run_id
        self._pending[run_id] = _PendingRun()
        self._settled.add(run_id)
        self._links[run_id] = self._link(run)
        trial.set_user_attr(RUN_ID_ATTR, run_id)
        params = trial.params
        self.defer(self.log_params, run_id, {**params, **trial_parameters(params, trial.user_attrs)})
        return run_id

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Log parameters (values as text, masked); keys are made valid MLflow keys. A parameter already
        logged with a different value is an MLflow error (parameters are immutable)."""
        from mlflow.entities import Param

        entries = [Param(mlflow_key(name), mask_text(str(value))) for name, value in params.items()]
        for chunk in _chunks(entries, _MAX_PARAMS_OR_TAGS_PER_BATCH):
            self._log_batch(run_id, params=chunk)

    def log_epoch_metrics(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        """Log one epoch's metrics (losses, per-task scores, sampler statistics, curriculum phase as a
        number) at ``step``. NaN and infinities are kept. A trial run's metrics are buffered and sent
        asynchronously once :data:`EPOCH_FLUSH_SECONDS` have passed since the last sending (and by
        :meth:`finish_trial`); other runs' metrics are sent at once."""
        from mlflow.entities import Metric

        timestamp = int(time.time() * 1000)
        entries = [Metric(mlflow_key(name), float(value), timestamp, step) for name, value in metrics.items()]
        pending = self._pending.get(run_id)
        if pending is None:
            for chunk in _chunks(entries, _MAX_METRICS_PER_BATCH):
                self._client.log_batch(run_id, metrics=chunk)
            return
        pending.metrics.extend(entries)
        if time.monotonic() - pending.last_flush >= EPOCH_FLUSH_SECONDS:
            self._send_buffered(run_id, pending)

    def log_final_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        """Log end-of-training metrics (one value each, at step 0). Name them apart from the per-epoch
        series, e.g. ``test/rmse/<task>``."""
        self.log_epoch_metrics(run_id, metrics, step=0)

    def log_config(self, run_id: str, config: Mapping[str, Any], artifact_file: str = "config.yaml") -> None:
        """Log a resolved configuration as a YAML artifact, every string masked. ``config`` holds plain
        data (e.g. a pydantic ``model_dump(mode="json")``); paths are written as text."""
        text = yaml.safe_dump(mask_data(config), sort_keys=False, allow_unicode=True)
        self._client.log_text(run_id, text, artifact_file)

    def log_lineage(
        self, run_id: str, data_hash: str, split_hash: str, lineage: Lineage | None = None
    ) -> None:
        """Tag the run with the data and split hashes, the git commit (also as MLflow's
        ``mlflow.source.git.commit``) and dirtiness, Python, platform and key package versions
        (``lineage.*`` tags). ``lineage`` defaults to this process's :attr:`lineage`."""
        lineage = lineage if lineage is not None else self.lineage
        values = {
            "data_hash": data_hash,
            "split_hash": split_hash,
            "git_commit": lineage.git_commit or "unknown",
            "git_dirty": "unknown" if lineage.git_dirty is None else str(lineage.git_dirty).lower(),
            "python": lineage.python,
            "platform": lineage.platform,
        }
        values |= {
            f"version.{name}": version or "not installed" for name, version in lineage.packages.items()
        }
        tags = {f"{LINEAGE_TAG_PREFIX}{name}": value for name, value in values.items()}
        if lineage.git_commit is not None:
            tags[GIT_COMMIT_TAG] = lineage.git_commit
        self._set_tags(run_id, tags)

    def log_training_table(self, run_id: str, table: MoleculeTable, split: SplitIndices) -> None:
        """Log the training table as the run's MLflow dataset input (context ``training``): named after
        its file, its digest the first 36 hex digits of the table's content hash (MLflow's digest limit),
        the full hash, the split hash, row count and targets in its profile, SMILES and targets as its
        schema."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        source = mask_text(str(table.source))
        columns = [{"type": "string", "name": "smiles"}] + [
            {"type": "double", "name": name} for name in table.target_names
        ]
        profile = {
            "content_hash": table.content_hash,
            "split_hash": split.split_hash,
            "num_rows": len(table),
            "targets": list(table.target_names),
        }
        dataset = Dataset(
            name=Path(source).name or source,
            digest=table.content_hash[:36],
            source_type="local",
            source=json.dumps({"uri": source}),
            schema=json.dumps({"mlflow_colspec": columns}),
            profile=json.dumps(profile),
        )
        tags = [InputTag("mlflow.data.context", "training"), InputTag("split_hash", split.split_hash)]
        from mlflow.exceptions import MlflowException

        inputs = [DatasetInput(dataset, tags=tags)]
        try:
            self._client.log_inputs(run_id, datasets=inputs)
        except MlflowException as exc:
            # Two workers logging the same new dataset at once: MLflow's SQL store inserts it twice and
            # one insert fails on the unique (experiment, name, digest) key; the dataset exists now.
            if "UNIQUE constraint" not in str(exc) and "duplicate key" not in str(exc):
                raise
            self._client.log_inputs(run_id, datasets=inputs)

    def log_checkpoint(self, run_id: str, path: Path, artifact_path: str = "checkpoints") -> None:
        """Copy a checkpoint file into the run's artifacts under ``artifact_path``."""
        self.log_file(run_id, path, artifact_path, kind="checkpoint")

    def log_file(self, run_id: str, path: Path, artifact_path: str | None = None, kind: str = "file") -> None:
        """Copy a file into the run's artifacts, under ``artifact_path`` (default: the artifact root, e.g.
        ``best.pt`` and ``predictions.csv`` of a trial). A missing file is a FileNotFoundError naming it
        as ``kind``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{kind} {path} does not exist or is not a file")
        self._client.log_artifact(run_id, str(path), artifact_path)

    def finish_trial(
        self, run_id: str, state: TrialState, value: float | None = None, error: str | None = None
    ) -> None:
        """Close the trial's run: tag ``optuna.state``, log ``value`` as metric ``trial_value``, record
        ``error`` (masked, truncated) as tag ``optuna.error``, and set the status COMPLETE -> FINISHED,
        PRUNED -> KILLED, FAIL -> FAILED. Raises ValueError for an unfinished state, before any change."""
        from mlflow.entities import Metric, RunTag

        status = run_status(state)
        tags = [RunTag(STATE_TAG, state.name)]
        if error is not None:
            tags.append(RunTag(ERROR_TAG, mask_text(error)[:_MAX_ERROR_LENGTH]))
        metrics = [] if value is None else [Metric(VALUE_METRIC, float(value), int(time.time() * 1000), 0)]
        with self._async_queue:
            pending = self._pending.pop(run_id, None)
            if pending is not None:
                self._send_buffered(run_id, pending)
                self._unfinished.extend(pending.operations)
            self._client.log_batch(run_id, metrics=metrics, tags=tags)
            self._client.set_terminated(run_id, status=status)
        self._settled.add(run_id)

    def defer(self, call: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        """Run ``call(*args, **kwargs)`` on the tracker's background thread, after every call deferred
        before it; :meth:`flush` waits for it and raises its error, if any. The trial's own thread then
        spends no time on records that nothing waits for: the trial run's resolved config, lineage tags,
        final metrics and checkpoint, closing it, the dashboard note and the study's summary."""
        from concurrent.futures import ThreadPoolExecutor

        if self._background is None:
            self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="admet-hpo-mlflow")
        self._unfinished.append(self._background.submit(call, *args, **kwargs))

    def flush(self) -> None:
        """Wait until every deferred call and asynchronous operation of this tracker has reached MLflow;
        raises the first error one of them met. Call it before the process ends (the workers do, after
        their last trial)."""
        while self._unfinished:  # a deferred call can add operations
            work, self._unfinished = self._unfinished, []
            for item in work:
                if isinstance(item, Future):
                    item.result()
                else:
                    item.wait()
        for pending in list(self._pending.values()):
            for operation in pending.operations:
                operation.wait()
            pending.operations = []

    def run_link(self, run_id: str) -> str:
        """Where a person finds the run: its page on the tracking server for an ``http(s)`` tracking URI,
        else the run's artifact location (a local path or URI)."""
        if run_id not in self._links:
            self._links[run_id] = self._link(self._client.get_run(run_id))
        return self._links[run_id]

    def _link(self, run: Run) -> str:
        return (
            trial_run_url(self.tracking_uri, run.info.experiment_id, run.info.run_id) or run.info.artifact_uri
        )

    # ------------------------------------------------------------------------------------------- internals

    def _started(self) -> tuple[str, str]:
        if self._study is None:
            raise RuntimeError("StudyTracker.start_study(study) must be called before trials are tracked")
        return self._study

    def _system_tags(self) -> dict[str, str]:
        """MLflow's ``mlflow.user``, ``mlflow.source.name`` (the study file) and ``mlflow.source.type``."""
        return {USER_TAG: _user(), SOURCE_NAME_TAG: mask_text(self._source_name), SOURCE_TYPE_TAG: "LOCAL"}

    def _set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        entries = [RunTag(key, mask_text(value)) for key, value in tags.items()]
        for chunk in _chunks(entries, _MAX_PARAMS_OR_TAGS_PER_BATCH):
            self._log_batch(run_id, tags=chunk)

    def _log_batch(self, run_id: str, **entries: Any) -> None:
        """``log_batch``: asynchronous for a trial run still open here (waited for when it finishes),
        synchronous for any other run."""
        pending = self._pending.get(run_id)
        if pending is None:
            self._client.log_batch(run_id, **entries)
        else:
            with self._async_queue:
                pending.operations.append(self._client.log_batch(run_id, **entries, synchronous=False))

    def _send_buffered(self, run_id: str, pending: _PendingRun) -> None:
        """Send a trial run's buffered epoch metrics asynchronously."""
        with self._async_queue:
            for chunk in _chunks(pending.metrics, _MAX_METRICS_PER_BATCH):
                pending.operations.append(self._client.log_batch(run_id, metrics=chunk, synchronous=False))
        pending.metrics = []
        pending.last_flush = time.monotonic()

    def _experiment(self, name: str) -> str:
        """Id of the experiment called ``name``, created (or restored) if needed, tolerating a concurrent
        creation by another worker."""
        from mlflow.exceptions import MlflowException

        experiment = self._client.get_experiment_by_name(name)
        if experiment is None:
            location = experiment_artifact_location(self._artifact_root, name)
            try:
                return self._client.create_experiment(name, artifact_location=location)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                experiment = self._client.get_experiment_by_name(name)
        if experiment.lifecycle_stage == "deleted":
            self._client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id

    def _live_run(self, run_id: str, experiment_id: str) -> Run | None:
        """The run ``run_id`` if it exists, is not deleted and belongs to the experiment, else None."""
        from mlflow.exceptions import MlflowException

        try:
            run = self._client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            return None
        alive = run.info.lifecycle_stage == "active" and run.info.experiment_id == experiment_id
        return run if alive else None

    def _create_parent(
        self, study: optuna.Study, experiment_id: str, storage_url: str | None, tags: Mapping[str, str]
    ) -> str:
        parent_tags = {
            ROLE_TAG: "study",
            STUDY_NAME_TAG: study.study_name,
            DIRECTIONS_TAG: ",".join(direction.name for direction in study.directions),
            SAMPLER_TAG: type(study.sampler).__name__,
            PRUNER_TAG: type(study.pruner).__name__,
            **self._system_tags(),
            **tags,
        }
        if self.lineage.git_commit is not None:
            parent_tags[GIT_COMMIT_TAG] = self.lineage.git_commit
        if storage_url is not None:
            parent_tags[STORAGE_TAG] = mask_url(storage_url)
        run = self._client.create_run(
            experiment_id,
            run_name=study.study_name,
            tags={key: mask_text(str(value)) for key, value in parent_tags.items()},
        )
        own = run.info.run_id
        study.set_user_attr(PARENT_RUN_ATTR, own)
        recorded = study.user_attrs[PARENT_RUN_ATTR]
        if recorded != own:  # another worker recorded its parent run between our write and this read
            self._client.delete_run(own)
        return recorded

    def _running_runs(self, experiment_id: str) -> list[Run]:
        """All RUNNING runs of the experiment (every page, read before any is changed)."""
        runs: list[Run] = []
        token = None
        while True:
            page = self._client.search_runs(
                [experiment_id],
                filter_string="attributes.status = 'RUNNING'",
                max_results=1000,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs


def _best_completed(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> FrozenTrial | None:
    """The study's best COMPLETE trial (single objective), from ``trials`` (default: read them)."""
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False) if trials is None else trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not complete or len(study.directions) != 1:
        return None
    pick = max if study.direction == StudyDirection.MAXIMIZE else min
    return pick(complete, key=lambda t: t.value)
