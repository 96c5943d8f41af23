"""Plots of the best trial on the study's parent run: its learning curve and its per-task parity plot.

Each plot is drawn twice from the same data, as a plotly figure (interactive HTML, see
:func:`admet_hpo.tracking.plots.figure_html`) and as a matplotlib figure (PNG). The data come from the
best trial's MLflow run (:class:`BestTrialData`): the per-epoch ``train_loss`` / ``val_loss`` history and
``predictions.csv`` (:func:`admet_hpo.training.prediction.write_predictions`). The parity plot shows exact
labels only (a censored label is a bound, not a point), at most :data:`MAX_PARITY_POINTS` per task and
split (a fixed-seed subsample above that), so that the pages stay small whatever the data set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure as MatplotlibFigure
    from plotly.graph_objects import Figure

#: Most points drawn per task and split in a parity plot.
MAX_PARITY_POINTS = 2000
_SPLITS = ("val", "test")
_COLORS = {"val": "#1f77b4", "test": "#ff7f0e", "train_loss": "#2ca02c", "val_loss": "#1f77b4"}
_COLUMNS = 3


@dataclass(frozen=True)
class BestTrialData:
    """What the best trial's plots show.

    ``curves`` maps a metric name (``train_loss``, ``val_loss``) to its ``(epoch, value)`` points;
    ``predictions`` has one row per labelled cell of the validation and test rows with columns ``split``
    (``val`` / ``test``), ``task``, ``observed``, ``predicted`` and ``censoring`` (0 = exact), or is None
    when the trial's run has no predictions.
    """

    number: int
    curves: Mapping[str, Sequence[tuple[int, float]]]
    predictions: pd.DataFrame | None


def _parity_points(data: BestTrialData) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """task -> split -> (observed, predicted) of exact cells, subsampled to :data:`MAX_PARITY_POINTS`."""
    frame = data.predictions
    if frame is None or frame.empty:
        return {}
    frame = frame[frame["censoring"] == 0]
    rng = np.random.default_rng(0)
    points: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for task, rows in frame.groupby("task", sort=False):
        for split in _SPLITS:
            part = rows[rows["split"] == split]
            if len(part) > MAX_PARITY_POINTS:
                part = part.iloc[np.sort(rng.choice(len(part), MAX_PARITY_POINTS, replace=False))]
            if len(part):
                observed = part["observed"].to_numpy(dtype=np.float32)
                points.setdefault(str(task), {})[split] = (observed, part["predicted"].to_numpy(np.float32))
    return points


def _limits(pairs: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    values = np.concatenate([np.concatenate(pair) for pair in pairs.values()])
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    pad = 0.05 * (high - low or 1.0)
    return low - pad, high + pad


def _grid(n: int) -> tuple[int, int]:
    columns = min(_COLUMNS, n)
    return math.ceil(n / columns), columns


def best_trial_figures(data: BestTrialData) -> dict[str, Figure]:
    """Plotly figures ``learning_curve`` (when the run has a loss history) and ``parity`` (when it has
    predictions with exact labels), keyed by file stem."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figures: dict[str, Figure] = {}
    if any(data.curves.values()):
        curve = go.Figure()
        for name, points in data.curves.items():
            if points:
                epochs, values = zip(*points, strict=True)
                curve.add_trace(go.Scatter(x=epochs, y=values, mode="lines+markers", name=name))
        curve.update_layout(
            title=f"Learning curve of the best trial ({data.number})", xaxis_title="epoch", yaxis_title="loss"
        )
        figures["learning_curve"] = curve
    points = _parity_points(data)
    if points:
        rows, columns = _grid(len(points))
        parity = make_subplots(rows=rows, cols=columns, subplot_titles=list(points))
        for index, splits in enumerate(points.values()):
            row, column = index // columns + 1, index % columns + 1
            low, high = _limits(splits)
            parity.add_trace(
                go.Scatter(
                    x=[low, high], y=[low, high], mode="lines", showlegend=False, line={"color": "grey"}
                ),
                row=row,
                col=column,
            )
            for split, (observed, predicted) in splits.items():
                parity.add_trace(
                    go.Scatter(
                        x=observed,
                        y=predicted,
                        mode="markers",
                        name=split,
                        legendgroup=split,
                        showlegend=index == 0,
                        marker={"size": 4, "opacity": 0.6, "color": _COLORS[split]},
                    ),
                    row=row,
                    col=column,
                )
        parity.update_xaxes(title_text="observed")
        parity.update_yaxes(title_text="predicted")
        parity.update_layout(
            title=f"Predicted vs observed, best trial ({data.number})", height=320 * rows + 80
        )
        figures["parity"] = parity
    return figures


def best_trial_images(data: BestTrialData) -> dict[str, MatplotlibFigure]:
    """The same plots as :func:`best_trial_figures`, drawn with matplotlib (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure as MatplotlibFigure

    images: dict[str, MatplotlibFigure] = {}
    if any(data.curves.values()):
        image = MatplotlibFigure(figsize=(8, 5))
        axes = image.subplots()
        for name, points in data.curves.items():
            if points:
                epochs, values = zip(*points, strict=True)
                axes.plot(epochs, values, marker="o", label=name, color=_COLORS.get(name))
        axes.set(title=f"Learning curve of the best trial ({data.number})", xlabel="epoch", ylabel="loss")
        axes.legend()
        image.tight_layout()
        images["learning_curve"] = image
    points = _parity_points(data)
    if points:
        rows, columns = _grid(len(points))
        image = MatplotlibFigure(figsize=(4 * columns, 3.6 * rows + 0.6))
        grid = np.atleast_1d(image.subplots(rows, columns, squeeze=False)).ravel()
        for axes, (task, splits) in zip(grid, points.items(), strict=False):
            low, high = _limits(splits)
            axes.plot([low, high], [low, high], color="grey", linewidth=1)
            for split, (observed, predicted) in splits.items():
                axes.scatter(observed, predicted, s=6, alpha=0.6, label=split, color=_COLORS[split])
            axes.set(title=task, xlabel="observed", ylabel="predicted", xlim=(low, high), ylim=(low, high))
            axes.legend(fontsize="small")
        for axes in grid[len(points) :]:
            axes.set_visible(False)
        image.suptitle(f"Predicted vs observed, best trial ({data.number})")
        image.tight_layout()
        images["parity"] = image
    return images
