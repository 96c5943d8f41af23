"""Pinned public source files of the known data sets, and getting them: a local copy or a download.

Every file is pinned by a raw GitHub URL at a fixed commit and its sha256 (provenance in the data
README of the repository's shared data folder and in ``docs/data/``). A file is only used after its
checksum matched; downloads go to ``<cache_dir>/downloads`` through a temporary file.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from admet_hpo.data.storage import atomic_write, sha256_file
from admet_hpo.errors import DataFetchError

DOWNLOAD_TIMEOUT_S = 60.0
_BIOGEN_BASE = "https://raw.githubusercontent.com/molecularinformatics/Computational-ADME/b00df003de117ce9e5b381afd886095c5f2af2d5"
_AZ_BASE = (
    "https://raw.githubusercontent.com/netknowledge/ADMET/0fcce6a64d097d9283a28157cae7b903029ee98a/datasets"
)


@dataclass(frozen=True)
class SourceFile:
    """A pinned public file: its file name, raw URL and sha256."""

    name: str
    url: str
    sha256: str


BIOGEN_FILE = SourceFile(
    "ADME_public_set_3521.csv",
    f"{_BIOGEN_BASE}/ADME_public_set_3521.csv",
    "2cfabc2667740c224487876c33b23124159ef43294e0f9e4d926cb6276c95a3b",
)

AZ_FILES = tuple(
    SourceFile(name, f"{_AZ_BASE}/{name}", sha256)
    for name, sha256 in (
        ("PPB_AZ-hPPB.csv", "6cde0af6e38dbbe3e4660890b09f9f00fae3bce3e086ee6bc3be47a73dd205ba"),
        ("PPB_AZ-rPPB.csv", "0452d6c52741490d9adfafa82b0578a3b7cb745892834a5a7184649b1ebb8f42"),
        ("PPB_AZ-dPPB.csv", "597ac43e974a4fbcc897d2698fbfb08311125833eaa4307be277fe771d80ff55"),
        ("PPB_AZ-mPPB.csv", "dda9767733116023b47f828d94dd0fac00044966849085805958b6c15050dfdf"),
        ("microsomal_AZ-hLM.csv", "6c660e5d8938af3607fe6015c30978d9621c7a6e22785f269b9f5139e46bfa64"),
        ("hepatocyte_AZ-hH.csv", "3b89fbfe983d2d291b3ac65c287c1db9c66e65946f0168789c1a2477acb36793"),
        ("hepatocyte_AZ-rH.csv", "688d569e409c729146f27abcc7f8cf8f966ed98e6def3b80b554fe5019cea1c2"),
        ("solubility_AZ-sol.csv", "69fe32663bb0e002e94d779a55dacbbda107600c61d9d95a7e1ccc55c7221340"),
        ("lipophilicity_AZ-lipo.csv", "9e2cbdc45ab68caf2dc88c91f0a262682cea2a5bd47b22a58a4126bb2eb8a201"),
    )
)


def verify_checksum(path: Path, source: SourceFile) -> Path:
    """``path`` if its sha256 is the pinned one; otherwise a :class:`DataFetchError` naming both."""
    actual = sha256_file(path)
    if actual != source.sha256:
        raise DataFetchError(
            f"{path}: sha256 {actual} does not match the pinned {source.sha256} of {source.name} "
            f"({source.url}); expected an unmodified copy of that file"
        )
    return path


def local_source(from_path: Path, source: SourceFile) -> Path:
    """The checked copy of ``source`` at ``from_path``: the file itself, or ``from_path / source.name``
    when ``from_path`` is a directory."""
    from_path = Path(from_path).expanduser()
    path = from_path / source.name if from_path.is_dir() else from_path
    if not path.is_file():
        where = f"directory {from_path}" if from_path.is_dir() else f"{from_path}"
        raise DataFetchError(
            f"{where}: {source.name} not found; expected the file {source.name} ({source.url})"
        )
    return verify_checksum(path, source)


def download_source(source: SourceFile, cache_dir: Path) -> Path:
    """``<cache_dir>/downloads/<name>``, downloaded from the pinned URL unless a checked copy is there."""
    target = cache_dir / "downloads" / source.name
    if target.is_file() and sha256_file(target) == source.sha256:
        return target

    def fetch(handle: BinaryIO) -> None:
        with urllib.request.urlopen(source.url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            while chunk := response.read(1 << 20):
                handle.write(chunk)

    try:
        atomic_write(target, fetch)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataFetchError(
            f"cannot download {source.name} from {source.url} ({reason}); check the network, or download the "
            "file yourself and pass it with --from PATH"
        ) from None
    try:
        return verify_checksum(target, source)
    except DataFetchError:
        target.unlink(missing_ok=True)
        raise
