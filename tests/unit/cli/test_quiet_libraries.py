"""Quieting the libraries: a process that trains quiets Lightning; a launcher does not import it."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import logging, sys
from admet_hpo.cli.console import quiet_libraries
quiet_libraries(trains={trains})
level = logging.getLogger("lightning.pytorch").level if "lightning" in sys.modules else None
print("lightning" in sys.modules, level, logging.getLogger("optuna").getEffectiveLevel())
"""


def probe(trains: bool) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(trains=trains)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_training_process_gets_lightning_imported_and_quieted() -> None:
    assert probe(trains=True) == ["True", str(30), str(30)]  # logging.WARNING


def test_a_launcher_leaves_lightning_unimported_and_still_quiets_optuna() -> None:
    assert probe(trains=False) == ["False", "None", str(30)]
