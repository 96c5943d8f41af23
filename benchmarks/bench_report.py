"""Writing benchmark results: markdown tables, CSV files, the machine description and README blocks.

The scripts write every table to ``benchmarks/results/`` and replace their own block of
``benchmarks/README.md`` (between ``<!-- BEGIN <name> -->`` and ``<!-- END <name> -->``), so the
README shows generated figures, never hand-typed ones.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: floats rounded (NaN as "n/a"), everything else as text."""
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align_right: int = 1) -> str:
    """A GitHub markdown table; columns from ``align_right`` on are right-aligned."""
    marks = ["---" if i < align_right else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Rows of equal keys as CSV (floats written in full precision)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
    return path


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's processor string)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def package_versions(names: Sequence[str] = ("torch", "chemprop", "optuna", "mlflow", "numpy")) -> str:
    """``name version`` of the installed packages, comma-separated."""
    return ", ".join(f"{name} {metadata.version(name)}" for name in names)


@dataclass
class Clock:
    """Wall time and load average of a whole script run (the machine is shared)."""

    started: float = field(default_factory=time.perf_counter)
    load_start: tuple[float, float, float] = field(default_factory=os.getloadavg)

    def minutes(self) -> float:
        return (time.perf_counter() - self.started) / 60.0

    def describe(self, torch_threads: int) -> str:
        """The hardware and run conditions as a markdown bullet list."""
        load_end = os.getloadavg()
        return "\n".join(
            [
                f"- machine: {os.cpu_count()} cores (`nproc`), CPU `{cpu_model()}`, no GPU; "
                f"Python {platform.python_version()}; {package_versions()}",
                f"- torch threads: {torch_threads}; load average (1 min) {self.load_start[0]:.1f} at the "
                f"start, {load_end[0]:.1f} at the end (this run's own jobs included)",
                f"- total wall time of this run: {self.minutes():.1f} min",
            ]
        )


def replace_block(readme: Path, name: str, content: str) -> bool:
    """Replace the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` in ``readme``.

    Returns False (and leaves the file alone) when the markers are absent.
    """
    if not readme.is_file():
        return False
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- BEGIN {re.escape(name)} -->\n).*?(<!-- END {re.escape(name)} -->)", re.S)
    if not pattern.search(text):
        return False
    readme.write_text(pattern.sub(lambda m: m[1] + content.strip() + "\n" + m[2], text), encoding="utf-8")
    return True


def save_record(record: Any, path: Path) -> Path:
    """Write a run record (a dataclass whose ``bench`` holds the benchmark table's ``path``) as JSON, the
    file ``--report-from`` reads back; the folder is created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = asdict(record)
    payload["bench"] = {**record.bench, "path": str(record.bench["path"])}
    path.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return path
