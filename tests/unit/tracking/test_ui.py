"""Where the MLflow UI of a tracking store is, and the command that serves a local store."""

from __future__ import annotations

import pytest

from admet_hpo.tracking.ui import DEFAULT_UI_URL, MlflowUi


@pytest.mark.parametrize(
    ("uri", "ui_url", "base", "command"),
    [
        (
            "sqlite:////runs/q/mlflow.db",
            None,
            DEFAULT_UI_URL,
            "mlflow ui --backend-store-uri sqlite:////runs/q/mlflow.db --port 5000",
        ),
        (
            "sqlite:////runs/q/mlflow.db",
            "http://127.0.0.1:5055/",
            "http://127.0.0.1:5055",
            "mlflow ui --backend-store-uri sqlite:////runs/q/mlflow.db --port 5055",
        ),
        (
            "postgresql+psycopg://bob:s3cret@db/mlflow",
            "http://ws12.lab:8000",
            "http://ws12.lab:8000",
            "mlflow ui --backend-store-uri 'postgresql+psycopg://bob:***@db/mlflow' "
            "--host ws12.lab --port 8000",
        ),
        ("./mlruns", None, DEFAULT_UI_URL, "mlflow ui --backend-store-uri ./mlruns --port 5000"),
        ("http://alice:pw@mlflow.lab:5000/", None, "http://mlflow.lab:5000", None),
        ("https://mlflow.lab", "https://proxy.lab/mlflow", "https://proxy.lab/mlflow", None),
    ],
)
def test_ui_of_a_store(uri: str, ui_url: str | None, base: str, command: str | None) -> None:
    ui = MlflowUi.for_store(uri, ui_url)
    assert (ui.base_url, ui.start_command) == (base, command)
    assert ui.run_url("3", "abc") == f"{base}/#/experiments/3/runs/abc"
    assert ui.experiment_url("3") == f"{base}/#/experiments/3"
