"""Where a person opens the MLflow UI of a study's tracking store, and how to start it when needed.

An ``http(s)`` tracking URI is a tracking server: its UI is at that address. Any other store (a SQLite
file, a database, a folder) has no web page until someone runs ``mlflow ui`` on it; links then point
at :data:`DEFAULT_UI_URL` (or the study's ``mlflow.ui_url``), and :attr:`MlflowUi.start_command` is the
command that serves the store there.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from admet_hpo.masking import mask_url
from admet_hpo.tracking.notes import server_base_url

if TYPE_CHECKING:
    from admet_hpo.config.study import Study

#: Where ``mlflow ui`` listens by default; the links of a local store's runs point there.
DEFAULT_UI_URL = "http://127.0.0.1:5000"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class MlflowUi:
    """The MLflow UI of one tracking store.

    ``base_url`` is the UI's address (no credentials); ``start_command`` is the ``mlflow ui`` command
    line that serves the store at that address (password masked), or None for a tracking server.
    """

    base_url: str
    start_command: str | None

    @classmethod
    def for_store(cls, tracking_uri: str, ui_url: str | None = None) -> MlflowUi:
        """The UI of ``tracking_uri``: ``ui_url`` (an ``http(s)`` URL) when given, else the server itself
        (``http(s)`` URI) or :data:`DEFAULT_UI_URL`."""
        server = server_base_url(tracking_uri)
        base = server_base_url(ui_url) if ui_url else server
        if server is not None:
            return cls(base or server, None)
        base = base or DEFAULT_UI_URL
        parts = urlsplit(base)
        command = ["mlflow", "ui", "--backend-store-uri", mask_url(tracking_uri)]
        if parts.hostname and parts.hostname not in _LOOPBACK:
            command += ["--host", parts.hostname]
        command += ["--port", str(parts.port or 5000)]
        return cls(base, shlex.join(command))

    @classmethod
    def of(cls, study: Study) -> MlflowUi:
        """The UI of a study's tracking store, with the study file's ``mlflow.ui_url`` if set."""
        return cls.for_store(study.mlflow_tracking_uri, study.config.mlflow.ui_url)

    def experiment_url(self, experiment_id: str) -> str:
        """The experiment's page (the study's runs)."""
        return f"{self.base_url}/#/experiments/{experiment_id}"

    def run_url(self, experiment_id: str, run_id: str) -> str:
        """The run's page."""
        return f"{self.experiment_url(experiment_id)}/runs/{run_id}"
