"""Where the data layer keeps files, and how it writes them so concurrent workers never see half a file.

The cache directory holds built known data sets (``known/``), downloaded source files (``downloads/``)
and featurised molecule graphs (``features/``). It is, in order: the ``cache_dir`` argument, the
``ADMET_HPO_CACHE`` environment variable, or ``~/.cache/admet-hpo``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

CACHE_ENV_VAR = "ADMET_HPO_CACHE"


def resolve_cache_dir(cache_dir: Path | str | None = None) -> Path:
    """The cache directory to use (see the module docstring); it is not created here."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from_env = os.environ.get(CACHE_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    return Path.home() / ".cache" / "admet-hpo"


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` through ``write(file)`` into a temporary file beside it, then rename it into place.

    A reader sees either no file or a complete one; two processes writing the same path both succeed and
    the last rename wins (they write the same content).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as temp_file:
            write(temp_file)
        Path(temp_name).replace(path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
