"""The ``--json`` schemas in ``schemas/output/`` are those of the record models; trial records."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.distributions import FloatDistribution

from admet_hpo.cli.json_output import TrialRecord, output_schemas

REPO = Path(__file__).resolve().parents[3]


def test_committed_output_schemas_are_up_to_date_with_the_models() -> None:
    folder = REPO / "schemas" / "output"
    assert sorted(path.name for path in folder.iterdir()) == sorted(output_schemas())
    for name, text in output_schemas().items():
        assert (folder / name).read_text(encoding="utf-8") == text, (
            f"{folder / name} is stale: run `hpo schema`"
        )


def test_a_trial_record_carries_the_stored_trial() -> None:
    trial = optuna.trial.create_trial(
        params={"alpha": 0.25, "ratio.a.raw": 0.9},
        distributions={"alpha": FloatDistribution(0.0, 1.0), "ratio.a.raw": FloatDistribution(0.0, 1.0)},
        value=0.5,
        intermediate_values={0: 0.9, 1: 0.5},
        user_attrs={"mlflow_run_id": "abc", "ratio.a": 0.3},
    )
    record = TrialRecord.of(trial)
    assert record.model_dump() == {
        "trial": -1,  # create_trial numbers it when a study adds it
        "state": "COMPLETE",
        "value": 0.5,
        "params": {"alpha": 0.25, "ratio.a": 0.3},
        "raw_params": {"alpha": 0.25, "ratio.a.raw": 0.9},
        "epochs_run": 2,
        "mlflow_run_id": "abc",
        "error": None,
    }
    failed = TrialRecord.of(
        optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={"error": "boom"})
    )
    assert (failed.value, failed.epochs_run, failed.error) == (None, None, "boom")
