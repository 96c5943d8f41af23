"""The featurisation cache across processes, and the full multi-source table featurised once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from admet_hpo.data.datasets import build_split_datasets
from admet_hpo.data.featurize import FeatureCache
from admet_hpo.data.known import demo
from admet_hpo.data.known.fetch import fetch_known
from admet_hpo.data.known.registry import KNOWN_DATASETS
from admet_hpo.data.loading import load_table
from admet_hpo.data.splits import split_table
from admet_hpo.data.table import TableSpec

pytestmark = pytest.mark.integration

CHILD = """
import sys
from admet_hpo.data.featurize import FeatureCache
from admet_hpo.data.loading import load_table
from admet_hpo.data.table import TableSpec
table = load_table(sys.argv[1], TableSpec(target_cols=tuple(sys.argv[3].split(","))))
cache = FeatureCache(sys.argv[2])
graphs = cache.graphs(table)
print(cache.featurized, len(graphs), int(sum(g.V.shape[0] for g in graphs)))
"""


def test_a_fresh_process_reads_the_graphs_from_disk(forget_molecules, tmp_path: Path) -> None:
    forget_molecules()
    table_path = fetch_known("demo", cache_dir=tmp_path)
    table = load_table(table_path, TableSpec(target_cols=demo.TARGETS))
    cache = FeatureCache(tmp_path)
    graphs = cache.graphs(table)
    assert cache.featurized == len(set(table.smiles))
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(CHILD),
            str(table_path),
            str(tmp_path),
            ",".join(demo.TARGETS),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    featurized, n_graphs, n_atoms = map(int, child.stdout.split())
    assert featurized == 0, "the second process found the graphs on disk"
    assert n_graphs == len(table)
    assert n_atoms == sum(g.V.shape[0] for g in graphs)


def test_full_multisource_featurised_once_then_loaded(
    forget_molecules, shared_data_dir: Path, tmp_path: Path
) -> None:
    forget_molecules()
    path = fetch_known("adme_multisource", from_path=shared_data_dir, cache_dir=tmp_path)
    table = load_table(path, TableSpec(target_cols=KNOWN_DATASETS["adme_multisource"].target_cols))
    split = split_table(table, "scaffold", (0.8, 0.1, 0.1), seed=0)
    start = time.perf_counter()
    first = FeatureCache(tmp_path)
    train, val, test = build_split_datasets(table, split, first)
    featurise_s = time.perf_counter() - start
    assert first.featurized == len(set(table.smiles))
    assert len(train) + len(val) + len(test) == len(table)
    forget_molecules()
    start = time.perf_counter()
    second = FeatureCache(tmp_path)
    train_again, _, _ = build_split_datasets(table, split, second)
    load_s = time.perf_counter() - start
    assert second.featurized == 0
    assert load_s < featurise_s
    for i in (0, len(train) // 2, len(train) - 1):
        np.testing.assert_array_equal(train[i].mg.V, train_again[i].mg.V)
        np.testing.assert_array_equal(train[i].mg.edge_index, train_again[i].mg.edge_index)
    print(f"multisource: featurise {featurise_s:.1f} s, reload from disk {load_s:.1f} s")
