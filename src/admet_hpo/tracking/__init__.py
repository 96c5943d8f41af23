"""MLflow tracking of Optuna studies (SPEC section 4, "MLflow").

- ``tracker``: :class:`~admet_hpo.tracking.tracker.StudyTracker`, the study/trial <-> experiment/run link.
- ``store``: ``ensure_tracking_store`` (initialise a database store once before workers start).
- ``notes``: run page URLs and optuna-dashboard notes; ``plots``: study plots as masked HTML.
- ``urls``: credential masking for URLs, text and log records; ``lineage``: git commit and versions.
- ``status``, ``keys``: trial state -> run status, valid MLflow keys.

Nothing here imports MLflow, plotly or optuna-dashboard at module import time.
"""
