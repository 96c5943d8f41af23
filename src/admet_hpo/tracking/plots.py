"""Study-level plots, built only when they can mean something: Optuna's plotly figures (interactive
HTML) and the same plots from Optuna's matplotlib module (PNG, for reports and offline reading).

An HTML page does not embed plotly.js (4.6 MB): it loads :data:`PLOTLY_JS` from its own folder, which
the tracker logs once per study beside the pages. Every text in either kind of plot is masked: parameter
values, tick labels and hover texts can carry URLs with credentials."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from admet_hpo.tracking.urls import mask_data, mask_text

#: The file name of plotly.js beside the HTML pages (what ``include_plotlyjs="directory"`` loads).
PLOTLY_JS = "plotly.min.js"

if TYPE_CHECKING:
    import optuna
    from matplotlib.figure import Figure as MatplotlibFigure
    from optuna.trial import FrozenTrial
    from plotly.graph_objects import Figure


def _has_varying_shared_parameter(completed: list[FrozenTrial]) -> bool:
    """True when some parameter present in every completed trial takes at least two values."""
    shared = set.intersection(*(set(trial.params) for trial in completed))
    return any(len({repr(trial.params[name]) for trial in completed}) > 1 for name in shared)


def _plottable(study: optuna.Study) -> tuple[bool, bool]:
    """(anything to plot, importances meaningful): one completed trial of a single-objective study;
    importances need two and a parameter, shared by all completed trials, that varies (otherwise Optuna
    can only report equal importances)."""
    from optuna.trial import TrialState

    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not completed or len(study.directions) != 1:
        return False, False
    return True, len(completed) >= 2 and _has_varying_shared_parameter(completed)


def study_figures(study: optuna.Study) -> dict[str, Figure]:
    """Plotly figures of a single-objective study, keyed by file stem.

    ``optimization_history`` and ``parallel_coordinate`` need one completed trial,
    ``param_importances`` needs what :func:`_plottable` says. An empty dict when nothing can be plotted
    yet or the study has several objectives.
    """
    import optuna.visualization as visualization

    anything, importances = _plottable(study)
    if not anything:
        return {}
    figures = {
        "optimization_history": visualization.plot_optimization_history(study),
        "parallel_coordinate": visualization.plot_parallel_coordinate(study),
    }
    if importances:
        figures["param_importances"] = visualization.plot_param_importances(study)
    return figures


def study_images(study: optuna.Study) -> dict[str, MatplotlibFigure]:
    """The same plots as :func:`study_figures`, drawn by Optuna's matplotlib module (Agg backend) from a
    copy of the study's completed trials whose categorical values are masked, keyed by file stem."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import optuna.visualization.matplotlib as visualization
    from optuna.exceptions import ExperimentalWarning

    anything, importances = _plottable(study)
    if not anything:
        return {}
    plots = {
        "optimization_history": visualization.plot_optimization_history,
        "parallel_coordinate": visualization.plot_parallel_coordinate,
    }
    if importances:
        plots["param_importances"] = visualization.plot_param_importances
    masked = _masked_copy(study)
    images = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        for stem, plot in plots.items():
            figure = plot(masked).figure
            figure.set_size_inches(9, 6)
            figure.tight_layout()
            images[stem] = figure
    return images


def _masked_copy(study: optuna.Study) -> optuna.Study:
    """An in-memory study holding ``study``'s completed trials with every categorical text masked."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState

    def masked(value: object) -> object:
        return mask_text(value) if isinstance(value, str) else value

    copy = optuna.create_study(directions=study.directions)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        distributions = {
            name: CategoricalDistribution([masked(c) for c in d.choices])
            if isinstance(d, CategoricalDistribution)
            else d
            for name, d in trial.distributions.items()
        }
        copy.add_trial(
            optuna.trial.create_trial(
                params={name: masked(value) for name, value in trial.params.items()},
                distributions=distributions,
                value=trial.value,
                intermediate_values=trial.intermediate_values,
            )
        )
    return copy


def figure_html(figure: Figure) -> str:
    """An HTML page of ``figure`` that loads plotly.js from :data:`PLOTLY_JS` in its own folder (so it
    opens offline beside that file), with every string in its data and layout masked."""
    import plotly.graph_objects as go

    masked = go.Figure(mask_data(json.loads(figure.to_json())))
    return masked.to_html(include_plotlyjs="directory", full_html=True)


def plotly_js() -> str:
    """The plotly.js bundle the HTML pages load (plotly's own copy, so the pages work offline)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()
