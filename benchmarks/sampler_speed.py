"""Speed and peak memory of the joint sampler against straightforward references (issue 3, SPEC 2.5).

Data: N rows (default 1,000,000), 12 tasks labelled at geometric rates, 3 qualities, 20 experiments x 4
conditions. Per-row sampler: joint weights (alpha 0.5 x warmup curriculum) + one epoch of N_labelled
indices, against a per-draw Python reference (the seed-style two-stage loop: cell by weight, then a
uniform row) and against ``torch.utils.data.WeightedRandomSampler``. Batch sampler: one epoch of
experiment-aware, condition-balanced batches (B = 256, leaky 0.2) against a per-batch ``rng.choice``
reference. The Python references are timed on a subsample and extrapolated linearly (stated in the
table); their one-time setup (grouping rows into cells) is timed once, counted once and not scaled up.
Our samplers' one-time setup is shown on its own rows. Peak memory is tracemalloc's peak for the timed
call (numpy allocations are traced; torch's are not, so torch has no memory figure).

Run: ``/work/main/.venv/bin/python benchmarks/sampler_speed.py`` (about a minute; ``--rows`` to shrink).
"""

from __future__ import annotations

import argparse
import bisect
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler

from admet_hpo.sampling import CurriculumState, FlexibleBatchSampler, JointSampler, JointWeighting

QUALITIES = ("high", "medium", "low")


@dataclass(frozen=True)
class Data:
    targets: np.ndarray
    quality: np.ndarray
    experiment: np.ndarray
    condition: np.ndarray


@dataclass(frozen=True)
class Row:
    task: str
    method: str
    seconds: float
    peak_mb: float | None
    note: str = ""


def make_data(n_rows: int, seed: int = 0) -> Data:
    rng = np.random.default_rng(seed)
    rates = np.geomspace(0.5, 0.005, 12)
    labelled = rng.random((n_rows, rates.size)) < rates
    targets = np.where(labelled, 1.0, np.nan)
    return Data(
        targets=targets,
        quality=rng.choice(np.array(QUALITIES), n_rows, p=[0.2, 0.3, 0.5]),
        experiment=rng.integers(0, 20, n_rows),
        condition=rng.integers(0, 4, n_rows),
    )


def timed(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall time over ``repeats`` untraced runs, and tracemalloc's peak (MB) of one more run."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return statistics.median(times), peak


def reference_weights(
    targets: np.ndarray, quality_codes: np.ndarray, alpha: float, p_q: list[float]
) -> list[float]:
    """Per-row joint weights with plain Python loops (rarest labelled task, p_q / count_q)."""
    rows = targets.tolist()
    n_tasks = len(rows[0])
    counts = [0] * n_tasks
    for row in rows:
        for t, value in enumerate(row):
            if value == value:
                counts[t] += 1
    q_counts = [0] * len(p_q)
    primary = []
    for row, q in zip(rows, quality_codes.tolist(), strict=True):
        labelled = [t for t, value in enumerate(row) if value == value]
        primary.append(min(labelled, key=lambda t: counts[t]) if labelled else -1)
        if labelled:
            q_counts[q] += 1
    weights = []
    for p, q in zip(primary, quality_codes.tolist(), strict=True):
        weights.append(0.0 if p < 0 else counts[p] ** -alpha * p_q[q] / q_counts[q])
    return weights


@dataclass(frozen=True)
class ReferenceCells:
    """The per-draw reference's one-time setup: member rows and cumulative weight of each cell."""

    members: list[list[int]]
    cumulative: list[float]
    total: float


def reference_cells(primary: np.ndarray, quality_codes: np.ndarray, weights: list[float]) -> ReferenceCells:
    """Group the labelled rows into (task, quality) cells with plain Python loops (once per run)."""
    cells: dict[tuple[int, int], list[int]] = {}
    for i, (t, q) in enumerate(zip(primary.tolist(), quality_codes.tolist(), strict=True)):
        if t >= 0:
            cells.setdefault((t, q), []).append(i)
    members = list(cells.values())
    cumulative, total = [], 0.0
    for rows in members:
        total += weights[rows[0]] * len(rows)
        cumulative.append(total)
    return ReferenceCells(members, cumulative, total)


def reference_draws(cells: ReferenceCells, n_draws: int) -> list[int]:
    """Two-stage per-draw loop: a (task, quality) cell by its total weight, then a uniform row in it."""
    rng = random.Random(0)
    out = []
    for _ in range(n_draws):
        rows = cells.members[bisect.bisect_right(cells.cumulative, rng.random() * cells.total)]
        out.append(rows[rng.randrange(len(rows))])
    return out


@dataclass(frozen=True)
class ReferenceBatchSetup:
    """The per-batch reference's one-time setup: experiment sizes, cell members, condition quotas."""

    sizes: np.ndarray
    cells: dict[tuple[int, int], np.ndarray]
    quotas: list[int]


def reference_batch_setup(
    weights: np.ndarray, experiment: np.ndarray, condition: np.ndarray, primary: int
) -> ReferenceBatchSetup:
    """Rows of every (experiment, condition) cell and the fixed condition quotas (once per run)."""
    labelled = weights > 0
    n_exp, n_cond = int(experiment.max()) + 1, int(condition.max()) + 1
    cells = {
        (e, c): np.flatnonzero(labelled & (experiment == e) & (condition == c))
        for e in range(n_exp)
        for c in range(n_cond)
    }
    quotas = [primary // n_cond + (1 if c < primary % n_cond else 0) for c in range(n_cond)]
    return ReferenceBatchSetup(np.bincount(experiment[labelled], minlength=n_exp), cells, quotas)


def reference_batches(
    setup: ReferenceBatchSetup, weights: np.ndarray, experiment: np.ndarray, leak: int, n_batches: int
) -> list[np.ndarray]:
    """Per-batch ``rng.choice``: experiment by size, each condition's quota and the leaked rows by weight."""
    rng = np.random.default_rng(0)
    sizes, cells, quotas = setup.sizes, setup.cells, setup.quotas
    n_exp, n_cond = sizes.size, len(quotas)
    batches = []
    for _ in range(n_batches):
        e = rng.choice(n_exp, p=sizes / sizes.sum())
        parts = []
        for c in range(n_cond):
            rows = cells[(e, c)]
            w = weights[rows]
            parts.append(rng.choice(rows, quotas[c], replace=rows.size < quotas[c], p=w / w.sum()))
        others = np.where(experiment != e, weights, 0.0)
        parts.append(rng.choice(weights.size, leak, replace=False, p=others / others.sum()))
        batches.append(np.concatenate(parts))
    return batches


def run(
    n_rows: int, repeats: int, reference_rows: int, reference_draw_count: int, reference_batch_count: int
) -> list[Row]:
    data = make_data(n_rows)
    results: list[Row] = []
    setup_start = time.perf_counter()
    curriculum = CurriculumState(QUALITIES, patience=3)
    weighting = JointWeighting(data.targets, task_alpha=0.5, quality=data.quality, curriculum=curriculum)
    setup = time.perf_counter() - setup_start
    n_labelled = weighting.n_labelled
    sampler = JointSampler(weighting, seed=1)

    def ours() -> np.ndarray:
        weighting.row_weights()
        return sampler.indices(0)

    seconds, peak = timed(ours, repeats)
    results.append(Row("weights + epoch indices", "admet_hpo JointSampler", seconds, peak))
    results.append(
        Row(
            "weights + epoch indices", "admet_hpo setup (once per run)", setup, None, "primary tasks, classes"
        )
    )

    torch_generator = torch.Generator().manual_seed(1)

    def with_torch() -> torch.Tensor:
        reference = WeightedRandomSampler(weighting.row_weights(), n_labelled, generator=torch_generator)
        # WeightedRandomSampler.__iter__ draws exactly this, then yields from .tolist() (left out for both).
        return torch.multinomial(reference.weights, reference.num_samples, True, generator=torch_generator)

    seconds, _ = timed(with_torch, repeats)
    results.append(
        Row("weights + epoch indices", "torch WeightedRandomSampler", seconds, None, "same w_joint")
    )

    sub = np.random.default_rng(2).choice(n_rows, min(reference_rows, n_rows), replace=False)
    codes = curriculum.quality_codes(data.quality)
    p_q = list(curriculum.probabilities.values())
    weight_seconds, weight_peak = timed(lambda: reference_weights(data.targets[sub], codes[sub], 0.5, p_q), 1)
    full_weights = weighting.row_weights().tolist()
    cells_seconds, cells_peak = timed(lambda: reference_cells(weighting.primary, codes, full_weights), 1)
    cells = reference_cells(weighting.primary, codes, full_weights)
    draw_seconds, draw_peak = timed(lambda: reference_draws(cells, reference_draw_count), 1)
    results.append(
        Row(
            "weights + epoch indices",
            "Python two-stage loop",
            weight_seconds * n_rows / sub.size
            + cells_seconds
            + draw_seconds * n_labelled / reference_draw_count,
            max(weight_peak * n_rows / sub.size, cells_peak, draw_peak),
            f"weights extrapolated from {sub.size:,} rows, draws from {reference_draw_count:,}; "
            f"cell setup {cells_seconds * 1e3:,.0f} ms once",
        )
    )

    setup_start = time.perf_counter()
    batch_sampler = FlexibleBatchSampler(
        weighting,
        256,
        experiment=data.experiment,
        condition=data.condition,
        experiment_aware=True,
        leaky=0.2,
        condition_balanced=True,
        seed=1,
    )
    batch_setup = time.perf_counter() - setup_start
    seconds, peak = timed(lambda: batch_sampler.epoch_batches(0), repeats)
    batch_note = f"{len(batch_sampler):,} batches"
    results.append(Row("epoch of batches", "admet_hpo FlexibleBatchSampler", seconds, peak, batch_note))
    results.append(
        Row("epoch of batches", "admet_hpo setup (once per run)", batch_setup, None, "cells, classes")
    )
    weights = weighting.row_weights()
    leak = int(256 * 0.2)
    setup_seconds, setup_peak = timed(
        lambda: reference_batch_setup(weights, data.experiment, data.condition, 256 - leak), 1
    )
    reference_setup = reference_batch_setup(weights, data.experiment, data.condition, 256 - leak)
    ref_seconds, ref_peak = timed(
        lambda: reference_batches(reference_setup, weights, data.experiment, leak, reference_batch_count), 1
    )
    note = f"extrapolated from {reference_batch_count} batches; cell setup {setup_seconds * 1e3:,.0f} ms once"
    total = setup_seconds + ref_seconds * len(batch_sampler) / reference_batch_count
    results.append(Row("epoch of batches", "per-batch rng.choice", total, max(setup_peak, ref_peak), note))
    return results


def table(results: list[Row]) -> str:
    fastest = {}
    for row in results:
        if "setup" not in row.method and row.method.startswith("admet_hpo"):
            fastest[row.task] = row.seconds
    lines = [
        "| workload | method | time | vs admet_hpo | peak memory | note |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in results:
        ratio = "" if "setup" in row.method else f"{row.seconds / fastest[row.task]:,.1f}x"
        peak = "n/a" if row.peak_mb is None else f"{row.peak_mb:,.0f} MB"
        lines.append(
            f"| {row.task} | {row.method} | {row.seconds * 1e3:,.0f} ms | {ratio} | {peak} | {row.note} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per fast method (median shown)")
    parser.add_argument("--reference-rows", type=int, default=50_000)
    parser.add_argument("--reference-draws", type=int, default=200_000)
    parser.add_argument("--reference-batches", type=int, default=20)
    args = parser.parse_args()
    results = run(args.rows, args.repeats, args.reference_rows, args.reference_draws, args.reference_batches)
    print(
        f"N = {args.rows:,} rows, 12 tasks, 3 qualities, 20 experiments x 4 conditions, B = 256, leaky 0.2; "
        f"torch threads {torch.get_num_threads()}\n"
    )
    print(table(results))


if __name__ == "__main__":
    main()
