"""Study-level plots, built only when they can mean something: Optuna's plotly figures (interactive
HTML) and the same plots from Optuna's matplotlib module (PNG, for reports and offline reading).

Both are drawn from a display copy of the study (:func:`display_study`) whose parameters are the values
trials applied: a simplex parameter appears as its shares (``condition_ratio.human``), not as its raw
draws, so importances and parallel coordinates speak of what was trained.

An HTML page does not embed plotly.js (4.6 MB): it loads it from plotly's CDN (:data:`PLOTLY_CDN`), so
every page stays a few kB to a few hundred kB, and it renders in the MLflow UI, which shows an HTML
artifact alone in a sandboxed frame where files beside it cannot be loaded. Without network access,
the PNGs are the plots to read. Every text in either kind of plot is masked: parameter values, tick
labels and hover texts can carry URLs with credentials."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from admet_hpo.masking import mask_data, mask_text
from admet_hpo.tracking.keys import trial_parameters

#: What an HTML page loads plotly.js from (``include_plotlyjs="cdn"``: plotly's CDN, the installed version).
PLOTLY_CDN = "cdn"

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
    shown = display_study(study)
    figures = {
        "optimization_history": visualization.plot_optimization_history(shown),
        "parallel_coordinate": visualization.plot_parallel_coordinate(shown),
    }
    if importances:
        figures["param_importances"] = visualization.plot_param_importances(shown)
    return figures


def study_images(study: optuna.Study) -> dict[str, MatplotlibFigure]:
    """The same plots as :func:`study_figures`, drawn by Optuna's matplotlib module (Agg backend) from
    the same display copy (:func:`display_study`), keyed by file stem."""
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
    masked = display_study(study)
    images = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        # a parameter with one value in every trial (its axis is a point): matplotlib widens it itself
        warnings.filterwarnings("ignore", message="Attempting to set identical low and high ylims")
        for stem, plot in plots.items():
            figure = plot(masked).figure
            figure.set_size_inches(9, 6)
            figure.tight_layout()
            images[stem] = figure
    return images


def display_study(study: optuna.Study) -> optuna.Study:
    """An in-memory copy of ``study`` for plotting: every trial in order (so trial numbers stay), each
    finished one with its state, value and intermediate values, its parameters as applied
    (:func:`~admet_hpo.tracking.keys.trial_parameters`: simplex shares, in ``[0, 1]``, instead of raw
    draws) and every categorical text masked; unfinished trials as empty FAIL trials (no plot shows
    them)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState

    def masked(value: object) -> object:
        return mask_text(value) if isinstance(value, str) else value

    def distribution(trial: FrozenTrial, name: str) -> optuna.distributions.BaseDistribution:
        original = trial.distributions.get(name)
        if original is None:  # a simplex share
            return FloatDistribution(0.0, 1.0)
        if isinstance(original, CategoricalDistribution):
            return CategoricalDistribution([masked(c) for c in original.choices])
        return original

    copy = optuna.create_study(directions=study.directions)
    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    for trial in study.get_trials(deepcopy=False):
        if trial.state not in finished:
            copy.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
            continue
        params = trial_parameters(trial.params, trial.user_attrs)
        copy.add_trial(
            optuna.trial.create_trial(
                state=trial.state,
                params={name: masked(value) for name, value in params.items()},
                distributions={name: distribution(trial, name) for name in params},
                value=trial.value if trial.state == TrialState.COMPLETE else None,
                intermediate_values=trial.intermediate_values,
            )
        )
    return copy


def figure_html(figure: Figure) -> str:
    """An HTML page of ``figure`` that loads plotly.js from plotly's CDN (:data:`PLOTLY_CDN`), with every
    string in its data and layout masked."""
    import plotly.graph_objects as go

    masked = go.Figure(mask_data(json.loads(figure.to_json())))
    return masked.to_html(include_plotlyjs=PLOTLY_CDN, full_html=True)
