"""Study-level plots (Optuna's plotly figures), built only when they can mean something."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from admet_hpo.tracking.urls import mask_data

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial
    from plotly.graph_objects import Figure


def _has_varying_shared_parameter(completed: list[FrozenTrial]) -> bool:
    """True when some parameter present in every completed trial takes at least two values."""
    shared = set.intersection(*(set(trial.params) for trial in completed))
    return any(len({repr(trial.params[name]) for trial in completed}) > 1 for name in shared)


def study_figures(study: optuna.Study) -> dict[str, Figure]:
    """Figures of a single-objective study, keyed by file stem.

    ``optimization_history`` and ``parallel_coordinate`` need one completed trial;
    ``param_importances`` needs two completed trials and a parameter, shared by all of them, that varies
    (otherwise Optuna can only report equal importances). An empty dict when nothing can be plotted yet or
    the study has several objectives.
    """
    import optuna.visualization as visualization
    from optuna.trial import TrialState

    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not completed or len(study.directions) != 1:
        return {}
    figures = {
        "optimization_history": visualization.plot_optimization_history(study),
        "parallel_coordinate": visualization.plot_parallel_coordinate(study),
    }
    if len(completed) >= 2 and _has_varying_shared_parameter(completed):
        figures["param_importances"] = visualization.plot_param_importances(study)
    return figures


def figure_html(figure: Figure) -> str:
    """A standalone HTML page (plotly.js embedded, so it opens offline) of ``figure`` with every string in
    its data and layout masked: parameter values, tick labels and hover texts can carry URLs."""
    import plotly.graph_objects as go

    masked = go.Figure(mask_data(json.loads(figure.to_json())))
    return masked.to_html(include_plotlyjs=True, full_html=True)
