"""The benchmark table: ``adme_multisource`` with its scaffold split frozen into a split column.

Every arm and every cost measurement trains on the same table file, so they all see the same rows and
the same split. The file is built from the product's cached known data set (never downloaded here):

1. the cached table ``<cache-dir>/known/adme_multisource-v2.csv``; if it is missing and ``--data-dir``
   names a folder with the source files, it is built from them (``fetch_known(..., from_path=...)``,
   checksums checked, no network); otherwise the error says which command fetches it;
2. the product's scaffold split of the arms' base config (``split`` in ``arms/base.yaml``);
3. optionally a seeded random subsample of the training rows (``train_fraction``), validation and test
   parts untouched; the result is written as a CSV with a ``split`` column (train / val / test), read
   by the arms with ``split.method: column``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from admet_hpo.config.training import TrainingConfig
    from admet_hpo.data.table import MoleculeTable, SplitIndices

DATASET = "adme_multisource"
SPLIT_COL = "split"
PPB_TASKS = ("hPPB", "rPPB", "dPPB", "mPPB")


@dataclass(frozen=True)
class BenchTable:
    """The prepared table file and what it holds."""

    path: Path
    target_cols: tuple[str, ...]
    rows: dict[str, int]  # rows per split part
    labels: dict[str, dict[str, int]]  # part -> task -> labelled rows
    train_fraction: float


def use_cache_dir(cache_dir: Path | None) -> Path:
    """Make ``cache_dir`` (default: the product's usual cache) this process's cache and return it.

    The study runner finds known tables and featurised graphs through ``ADMET_HPO_CACHE`` when no cache
    directory is passed, so the variable is set for the trials run in this process.
    """
    from admet_hpo.data.storage import CACHE_ENV_VAR, resolve_cache_dir

    resolved = resolve_cache_dir(cache_dir).resolve()
    os.environ[CACHE_ENV_VAR] = str(resolved)
    return resolved


def known_table(cache_dir: Path, data_dir: Path | None, dataset: str = DATASET) -> Path:
    """The cached known table ``dataset``, built from ``data_dir``'s local source files if missing."""
    from admet_hpo.data.known.fetch import fetch_known, known_table_path
    from admet_hpo.errors import DataFetchError

    path = known_table_path(dataset, cache_dir)
    if path.is_file():
        return path
    if data_dir is None:
        raise DataFetchError(
            f"{path} not found; build it with `hpo data fetch {dataset} --from /work/shared/data "
            f"--cache-dir {cache_dir}` or pass --data-dir with the source files"
        )
    return fetch_known(dataset, from_path=data_dir, cache_dir=cache_dir)


def subsample_train(split: SplitIndices, fraction: float, seed: int) -> SplitIndices:
    """``split`` with a seeded random ``fraction`` of its training rows (kept in table order)."""
    from admet_hpo.data.table import SplitIndices

    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"train fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return split
    rng = np.random.default_rng(seed)
    keep = rng.choice(split.train, size=max(1, round(fraction * len(split.train))), replace=False)
    return SplitIndices(np.sort(keep), split.val, split.test, split.split_hash + f"/train{fraction:g}")


def _label_counts(table: MoleculeTable, rows: np.ndarray) -> dict[str, int]:
    counts = np.isfinite(table.targets[rows]).sum(axis=0)
    return {name: int(n) for name, n in zip(table.target_names, counts, strict=True)}


def prepare_bench_table(
    base: TrainingConfig,
    *,
    cache_dir: Path,
    data_dir: Path | None,
    out_dir: Path,
    train_fraction: float,
    subsample_seed: int = 0,
) -> BenchTable:
    """Write ``<out_dir>/<dataset>_bench.csv`` (see the module docstring) and describe it.

    ``base`` is a training config on a known data set (``base.data.dataset``) with the split to freeze.
    """
    import pandas as pd

    from admet_hpo.data.training_data import load_training_data

    dataset = base.data.dataset or DATASET
    source = known_table(cache_dir, data_dir, dataset)
    table, split = load_training_data(base, cache_dir)
    split = subsample_train(split, train_fraction, subsample_seed)
    frame = pd.read_csv(source)
    parts = {"train": split.train, "val": split.val, "test": split.test}
    pieces = []
    for part, rows in parts.items():
        piece = frame.iloc[table.lines[rows] - 2].copy()  # lines are 1-based with the header on line 1
        piece[SPLIT_COL] = part
        pieces.append(piece)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{dataset}_bench.csv"
    pd.concat(pieces, ignore_index=True).to_csv(path, index=False)
    return BenchTable(
        path=path,
        target_cols=table.target_names,
        rows={part: len(rows) for part, rows in parts.items()},
        labels={part: _label_counts(table, rows) for part, rows in parts.items()},
        train_fraction=train_fraction,
    )


def arms_bench_table(
    cache_dir: Path | None, data_dir: Path | None, work_dir: Path, train_fraction: float
) -> BenchTable:
    """The arms' benchmark table under ``work_dir / "data"`` with ``cache_dir`` as this process's cache
    (:func:`use_cache_dir`, :func:`prepare_bench_table` on the arms' split config)."""
    from bench_arms import split_config

    return prepare_bench_table(
        split_config(),
        cache_dir=use_cache_dir(cache_dir),
        data_dir=data_dir,
        out_dir=work_dir / "data",
        train_fraction=train_fraction,
    )
