"""``python -m admet_hpo`` runs the ``hpo`` command line."""

from admet_hpo.cli import main

main()
