"""Building a known data set into ``<cache_dir>/known/<name>-v<version>.csv`` and finding it again."""

from __future__ import annotations

from pathlib import Path

from admet_hpo.data.known.registry import KnownDataset, get_known
from admet_hpo.data.known.sources import download_source, local_source
from admet_hpo.data.storage import atomic_write, resolve_cache_dir
from admet_hpo.errors import DataFetchError


def known_table_path(name: str, cache_dir: Path | str | None = None) -> Path:
    """Where the built table of known data set ``name`` lives in the cache (it may not exist yet)."""
    dataset = get_known(name)
    return resolve_cache_dir(cache_dir) / "known" / f"{dataset.name}-v{dataset.version}.csv"


def _source_files(dataset: KnownDataset, from_path: Path | None, cache_dir: Path) -> dict[str, Path]:
    if from_path is None:
        return {source.name: download_source(source, cache_dir) for source in dataset.sources}
    return {source.name: local_source(from_path, source) for source in dataset.sources}


def fetch_known(name: str, from_path: Path | str | None = None, cache_dir: Path | str | None = None) -> Path:
    """Build known data set ``name`` into the cache and return the table's path.

    Source files come from ``from_path`` (a file, or a directory holding the files) or are downloaded
    from their pinned URLs; either way their sha256 must match. ``demo`` needs no source files.
    """
    dataset = get_known(name)
    cache = resolve_cache_dir(cache_dir)
    if not dataset.sources and from_path is not None:
        raise DataFetchError(f"data set {name!r} is built by admet-hpo itself; it takes no --from PATH")
    files = _source_files(dataset, Path(from_path) if from_path is not None else None, cache)
    table = dataset.build(files)
    return atomic_write(known_table_path(name, cache), lambda handle: table.to_csv(handle, index=False))


def ensure_known_table(name: str, cache_dir: Path | str | None = None) -> Path:
    """The cached table of ``name``; ``demo`` is built when missing, the others must be fetched first."""
    path = known_table_path(name, cache_dir)
    if path.is_file():
        return path
    if not get_known(name).sources:
        return fetch_known(name, cache_dir=cache_dir)
    raise DataFetchError(
        f"data set {name!r} is not in the cache ({path} not found); run `hpo data fetch {name}` to download "
        f"it, or `hpo data fetch {name} --from PATH` with a local copy of its source file(s)"
    )
