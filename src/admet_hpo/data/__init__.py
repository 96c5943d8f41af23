"""The data layer: tables, known public sets, splits and the featurisation cache (SPEC section 1).

Nothing is imported here, so ``import admet_hpo.data`` stays light; the entry points are:

- :func:`admet_hpo.data.training_data.load_training_data` (config -> validated table + split) and
  :func:`admet_hpo.data.training_data.table_spec_from_config`;
- :func:`admet_hpo.data.loading.load_table` / :func:`admet_hpo.data.loading.check_table`;
- :func:`admet_hpo.data.splits.split_table`;
- :class:`admet_hpo.data.featurize.FeatureCache` and
  :func:`admet_hpo.data.datasets.build_molecule_dataset` / ``build_split_datasets`` (imports chemprop);
- :func:`admet_hpo.data.known.fetch.fetch_known` / ``ensure_known_table`` and the registry in
  :mod:`admet_hpo.data.known.registry`.
"""
