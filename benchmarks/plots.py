"""PNG figures of the quality study (matplotlib, Agg backend, small files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

DPI = 90


@dataclass(frozen=True)
class TrialPoint:
    """One trial of a study: its number, final state and value (last reported value if pruned)."""

    number: int
    state: str
    value: float


def task_bars(
    path: Path,
    panels: Sequence[tuple[str, Mapping[str, Mapping[str, tuple[float, float]]]]],
    tasks: Sequence[str],
) -> Path:
    """Grouped bars, one group per task and one bar per arm, error bars = sd over seeds.

    ``panels``: (y label, arm -> task -> (mean, sd)) per panel, stacked vertically.
    """
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 3.2 * len(panels)), squeeze=False)
    for ax, (label, values) in zip(axes[:, 0], panels, strict=True):
        arms = list(values)
        width = 0.8 / len(arms)
        x = np.arange(len(tasks))
        for k, arm in enumerate(arms):
            means = [values[arm][task][0] for task in tasks]
            sds = [values[arm][task][1] for task in tasks]
            ax.bar(x + (k - (len(arms) - 1) / 2) * width, means, width, yerr=sds, capsize=2, label=arm)
        ax.set_xticks(x, tasks, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=7, ncol=len(panels[0][1]), loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def optimisation_history(path: Path, studies: Mapping[str, Sequence[TrialPoint]], metric: str) -> Path:
    """Per arm: each trial's value (dots: complete, crosses: pruned) and the best so far (line)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for arm, trials in studies.items():
        colour = ax._get_lines.get_next_color()
        done = [t for t in trials if t.state == "COMPLETE"]
        pruned = [t for t in trials if t.state == "PRUNED" and np.isfinite(t.value)]
        ax.scatter([t.number for t in done], [t.value for t in done], color=colour, s=18)
        ax.scatter([t.number for t in pruned], [t.value for t in pruned], color=colour, marker="x", s=18)
        best, xs, ys = np.inf, [], []
        for t in sorted(done, key=lambda t: t.number):
            best = min(best, t.value)
            xs.append(t.number)
            ys.append(best)
        if xs:  # the best so far holds until the arm's last trial
            xs.append(max(t.number for t in trials))
            ys.append(best)
        ax.step(xs, ys, where="post", color=colour, label=arm)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("trial number")
    ax.set_ylabel(f"{metric} (dots: complete, x: pruned at last epoch)")
    ax.set_title("Optimisation history per arm (line: best so far)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _series(history: Sequence[Mapping[str, float]], prefix: str) -> dict[str, list[float]]:
    """``name -> value per epoch`` of the keys starting with ``prefix``, in the order the run logged them."""
    names = dict.fromkeys(
        key[len(prefix) :] for record in history for key in record if key.startswith(prefix)
    )
    return {name: [record.get(prefix + name, 0.0) for record in history] for name in names}


def sampler_shares(path: Path, history: Sequence[Mapping[str, float]], title: str) -> Path:
    """Stacked bars per epoch: expected share of draws per quality, primary task and experiment.

    Reads the epoch records' ``sampler/share_{quality,task,experiment}/...`` keys; the curriculum phase
    of each epoch (``curriculum/phase_index``) labels the x axis.
    """
    from admet_hpo.config.sampling import phases_for

    epochs = np.array([int(record["epoch"]) for record in history])
    qualities = _series(history, "sampler/share_quality/")
    phase_names = phases_for(len(qualities) or 3)
    ticks, previous = [], None
    for record in history:  # the phase is named at the first epoch of each phase
        index = record.get("curriculum/phase_index")
        phase = None if index is None or not np.isfinite(index) else phase_names[int(index)]
        ticks.append(f"{int(record['epoch'])}" + (f"\n{phase}" if phase and phase != previous else ""))
        previous = phase
    groups = [("quality", qualities), ("primary task", _series(history, "sampler/share_task/"))]
    groups.append(("experiment", _series(history, "sampler/share_experiment/")))
    fig, axes = plt.subplots(1, len(groups), figsize=(14, 4.2))
    for ax, (label, series) in zip(axes, groups, strict=True):
        bottom = np.zeros(len(epochs))
        colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(series), 1)))
        for colour, (name, shares) in zip(colours, series.items(), strict=False):
            ax.bar(epochs, shares, 0.8, bottom=bottom, label=name, color=colour)
            bottom += np.asarray(shares)
        ax.set_xticks(epochs, ticks, fontsize=7)
        ax.set_xlabel("epoch and curriculum phase")
        ax.set_ylim(0, 1)
        ax.set_title(f"expected share of draws per {label}", fontsize=9)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
