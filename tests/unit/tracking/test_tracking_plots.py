"""Which study plots are built, and that their HTML carries no credentials."""

from __future__ import annotations

import optuna
import pytest

from admet_hpo.tracking.plots import figure_html, study_figures

HISTORY_AND_COORDINATES = ["optimization_history", "parallel_coordinate"]


@pytest.fixture(autouse=True)
def quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(values_and_params: list[tuple[float | None, dict[str, float]]]) -> optuna.Study:
    """A study whose trials have the given parameter values; a value of None makes the trial fail."""
    study = optuna.create_study()
    for value, params in values_and_params:
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={name: optuna.distributions.FloatDistribution(0.0, 10.0) for name in params},
                value=value,
                state=optuna.trial.TrialState.FAIL if value is None else optuna.trial.TrialState.COMPLETE,
            )
        )
    return study


def test_nothing_is_plotted_before_a_trial_completes() -> None:
    assert study_figures(_study([])) == {}
    assert study_figures(_study([(None, {"x": 1.0})])) == {}


def test_importances_need_two_completed_trials_and_a_varying_shared_parameter() -> None:
    assert sorted(study_figures(_study([(1.0, {"x": 1.0})]))) == HISTORY_AND_COORDINATES
    constant = _study([(1.0, {"x": 1.0}), (2.0, {"x": 1.0})])
    assert sorted(study_figures(constant)) == HISTORY_AND_COORDINATES
    unshared = _study([(1.0, {"x": 1.0}), (2.0, {"y": 2.0})])
    assert sorted(study_figures(unshared)) == HISTORY_AND_COORDINATES
    varying = _study([(1.0, {"x": 1.0, "y": 3.0}), (2.0, {"x": 1.0, "y": 4.0}), (None, {"x": 5.0})])
    assert sorted(study_figures(varying)) == [
        "optimization_history",
        "parallel_coordinate",
        "param_importances",
    ]


def test_multi_objective_studies_are_not_plotted() -> None:
    study = optuna.create_study(directions=["minimize", "maximize"])
    study.optimize(lambda trial: (trial.suggest_float("x", 0, 1), 1.0), n_trials=2)
    assert study_figures(study) == {}


def test_figure_html_masks_parameter_values() -> None:
    study = optuna.create_study()
    choices = ["postgresql://u:topsecret@h/db", "sqlite:///local.db"]
    for choice in choices:
        study.enqueue_trial({"storage": choice})
    study.optimize(lambda trial: float(len(trial.suggest_categorical("storage", choices))), n_trials=2)
    html = figure_html(study_figures(study)["parallel_coordinate"])
    assert "topsecret" not in html
    # plotly writes "/" as "\u002f" inside the page's JSON
    assert "postgresql://u:***@h/db".replace("/", "\\u002f") in html
    assert "sqlite:///local.db".replace("/", "\\u002f") in html


def test_images_are_the_same_plots_with_every_text_masked() -> None:
    import matplotlib.text

    from admet_hpo.tracking.plots import study_images

    study = optuna.create_study()
    choices = ["postgresql://u:topsecret@h/db", "sqlite:///local.db"]
    for choice in choices:
        study.enqueue_trial({"storage": choice, "x": 1.0 + len(choice)})
    study.optimize(
        lambda trial: (
            float(len(trial.suggest_categorical("storage", choices))) + trial.suggest_float("x", 0, 50)
        ),
        n_trials=2,
    )
    images = study_images(study)
    assert sorted(images) == sorted(study_figures(study))
    for image in images.values():
        image.canvas.draw()  # tick labels are made when the figure is drawn (as when saved)
    texts = [t.get_text() for image in images.values() for t in image.findobj(matplotlib.text.Text)]
    assert not any("topsecret" in text for text in texts)
    assert any("postgresql://u:***@h/db" in text for text in texts)
    assert study_images(_study([])) == {}


def test_the_display_copy_keeps_trial_numbers_and_shows_applied_shares() -> None:
    from admet_hpo.tracking.plots import display_study

    study = optuna.create_study()
    raw = optuna.distributions.FloatDistribution(1e-6, 1.0 - 1e-6)
    for state, value in ((optuna.trial.TrialState.PRUNED, None), (optuna.trial.TrialState.COMPLETE, 1.0)):
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=value,
                params={"ratio.a.raw": 0.9, "ratio.b.raw": 0.1, "x": 0.2},
                distributions={"ratio.a.raw": raw, "ratio.b.raw": raw, "x": raw},
                user_attrs={"ratio.a": 0.04, "ratio.b": 0.96},
                intermediate_values={0: 3.0},
            )
        )
    study.ask()  # a running trial, then a completed one after it
    study.add_trial(optuna.trial.create_trial(value=0.5, params={"x": 0.5}, distributions={"x": raw}))
    shown = display_study(study).get_trials()
    assert [t.number for t in shown] == [0, 1, 2, 3]
    assert [t.state.name for t in shown] == ["PRUNED", "COMPLETE", "FAIL", "COMPLETE"]
    assert shown[1].params == {"ratio.a": 0.04, "ratio.b": 0.96, "x": 0.2}
    assert shown[1].distributions["ratio.a"] == optuna.distributions.FloatDistribution(0.0, 1.0)
    assert shown[0].intermediate_values == {0: 3.0} and shown[3].value == 0.5
    page = study_figures(study)["parallel_coordinate"].to_json()
    assert '"ratio.a"' in page and ".raw" not in page
