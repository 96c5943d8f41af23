"""Content hashes that identify a table and a split, independent of the file format they came from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np

_TABLE_HASH_VERSION = b"admet-hpo-table-v1"


def _update_strings(digest: hashlib._Hash, label: str, values: Sequence[str] | np.ndarray | None) -> None:
    digest.update(f"\x00{label}\x00".encode())
    if values is None:
        digest.update(b"<absent>")
        return
    payload = "\x1f".join(str(v) for v in values).encode()
    digest.update(f"{len(values)}:{len(payload)}:".encode())
    digest.update(payload)


def table_content_hash(
    smiles: np.ndarray,
    targets: np.ndarray,
    target_names: Sequence[str],
    quality: np.ndarray | None,
    experiment: np.ndarray | None,
    condition: np.ndarray | None,
    split: np.ndarray | None,
    censoring: np.ndarray | None = None,
) -> str:
    """sha256 over the normalised content: SMILES strings, target names and values (float64, one NaN
    pattern for missing labels), the quality, experiment, condition and split values, in row order, and
    the censoring codes when any cell is censored (a table without bounds hashes as before they existed).

    Column names other than the targets' and the file format do not enter, so the same content read from
    CSV or Parquet hashes the same.
    """
    digest = hashlib.sha256(_TABLE_HASH_VERSION)
    digest.update(json.dumps(list(target_names)).encode())
    _update_strings(digest, "smiles", smiles)
    values = np.array(targets, dtype="<f8", copy=True)
    values[np.isnan(values)] = np.nan
    digest.update(f"\x00targets\x00{values.shape}".encode())
    digest.update(values.tobytes())
    for label, column in (("quality", quality), ("experiment", experiment), ("condition", condition)):
        _update_strings(digest, label, column)
    _update_strings(digest, "split", split)
    if censoring is not None and np.any(censoring):
        digest.update(b"\x00censoring\x00")
        digest.update(np.asarray(censoring, dtype=np.int8).tobytes())
    return digest.hexdigest()


def split_assignment_hash(n_rows: int, train: np.ndarray, val: np.ndarray, test: np.ndarray) -> str:
    """sha256 of which rows are in train, val and test (the indices, sorted, per part)."""
    digest = hashlib.sha256(f"admet-hpo-split-v1:{n_rows}".encode())
    for label, rows in (("train", train), ("val", val), ("test", test)):
        ordered = np.sort(np.asarray(rows, dtype="<i8"))
        digest.update(f"\x00{label}:{len(ordered)}\x00".encode())
        digest.update(ordered.tobytes())
    return digest.hexdigest()
