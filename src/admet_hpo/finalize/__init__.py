"""A study's final model: its best trials retrained with several seeds as an ensemble, used to predict.

- :mod:`~admet_hpo.finalize.manifest`: the ensemble folder's layout and its ``ensemble.json``;
- :mod:`~admet_hpo.finalize.members`: which trials and seeds become members, and their configs;
- :mod:`~admet_hpo.finalize.build`: training the members and writing the folder (``hpo finalize``);
- :mod:`~admet_hpo.finalize.ensemble`: loading a folder and predicting SMILES (``hpo predict``);
- :mod:`~admet_hpo.finalize.pyfunc`: the MLflow ``pyfunc`` wrapper and its signature;
- :mod:`~admet_hpo.finalize.registry`: logging the ensemble to MLflow and registering it.
"""
