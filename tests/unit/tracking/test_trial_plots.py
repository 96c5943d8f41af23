"""The best trial's learning curve and parity plot: what is drawn from which data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from admet_hpo.tracking import trial_plots
from admet_hpo.tracking.trial_plots import BestTrialData, best_trial_figures, best_trial_images

CURVES = {"train_loss": [(0, 2.0), (1, 1.5)], "val_loss": [(0, 2.5), (1, 1.8)]}


def _predictions(rows: int, censored: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frames = []
    for task in ("logD", "solubility"):
        for split in ("val", "test"):
            observed = rng.normal(size=rows)
            frames.append(
                pd.DataFrame(
                    {
                        "split": split,
                        "task": task,
                        "observed": observed,
                        "predicted": observed + rng.normal(scale=0.1, size=rows),
                        "censoring": [1] * censored + [0] * (rows - censored),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def _points(figure) -> dict[tuple[str, str], int]:
    """(x axis, split) -> points of the scatter traces (identity lines excluded)."""
    return {(trace.xaxis, trace.name): len(trace.x) for trace in figure.data if trace.mode == "markers"}


def test_both_plots_from_curves_and_predictions_exact_labels_only() -> None:
    data = BestTrialData(4, CURVES, _predictions(10, censored=3))
    figures = best_trial_figures(data)
    assert sorted(figures) == sorted(best_trial_images(data)) == ["learning_curve", "parity"]
    assert [trace.name for trace in figures["learning_curve"].data] == ["train_loss", "val_loss"]
    assert _points(figures["parity"]) == {
        ("x", "val"): 7,
        ("x", "test"): 7,
        ("x2", "val"): 7,
        ("x2", "test"): 7,
    }
    titles = [annotation.text for annotation in figures["parity"].layout.annotations]
    assert titles == ["logD", "solubility"]
    image = best_trial_images(data)["parity"]
    assert [axes.get_title() for axes in image.axes if axes.get_visible()] == ["logD", "solubility"]


def test_large_splits_are_subsampled(monkeypatch) -> None:
    monkeypatch.setattr(trial_plots, "MAX_PARITY_POINTS", 50)
    figure = best_trial_figures(BestTrialData(0, {}, _predictions(200)))["parity"]
    assert set(_points(figure).values()) == {50}


def test_missing_data_leaves_its_plot_out() -> None:
    assert list(best_trial_figures(BestTrialData(0, CURVES, None))) == ["learning_curve"]
    assert list(best_trial_images(BestTrialData(0, {"train_loss": []}, _predictions(5)))) == ["parity"]
    everything_censored = BestTrialData(0, {}, _predictions(5, censored=5))
    assert best_trial_figures(everything_censored) == {} == best_trial_images(everything_censored)
