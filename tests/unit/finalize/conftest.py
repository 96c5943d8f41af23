"""A real ensemble folder of tiny untrained chemprop models (no training): the prediction path's input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from chemprop.models.utils import save_model

from admet_hpo.config.loading import validate_mapping
from admet_hpo.config.training import TargetTransformConfig, TrainingConfig
from admet_hpo.finalize.manifest import EnsembleManifest, MemberRecord, write_manifest
from admet_hpo.training.model import build_mpnn, fit_target_scaler

TASKS = ("a", "b")
MakeEnsemble = Callable[..., Path]


@pytest.fixture
def make_ensemble(tmp_path: Path) -> MakeEnsemble:
    """Write an ensemble folder with ``members`` untrained models (each its own weights and target
    scaler) predicting :data:`TASKS`, and return it."""

    def make(
        members: int = 2, transforms: dict[str, TargetTransformConfig] | None = None, name: str = "ensemble"
    ) -> Path:
        folder = tmp_path / name
        config = validate_mapping(
            TrainingConfig,
            {
                "data": {"dataset": "demo"},
                "model": {"message_hidden_dim": 8, "depth": 1, "ffn_hidden_dim": 8},
            },
            source="test",
        )
        records = []
        for seed in range(members):
            torch.manual_seed(seed)
            targets = np.random.default_rng(seed).normal(loc=seed, size=(20, len(TASKS)))
            model = build_mpnn(config.model, config.optim, len(TASKS), fit_target_scaler(targets))
            member = folder / "members" / f"m{seed}"
            member.mkdir(parents=True)
            save_model(member / "best.pt", model, output_columns=list(TASKS))
            (member / "config.yaml").write_text(
                yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8"
            )
            records.append(
                MemberRecord(
                    name=f"m{seed}",
                    trial=0,
                    seed=seed,
                    trial_value=0.1,
                    best_val_loss=0.1,
                    epochs_run=1,
                    config=f"members/m{seed}/config.yaml",
                    model=f"members/m{seed}/best.pt",
                )
            )
        manifest = EnsembleManifest(
            study="s",
            optuna_study="s-abc",
            metric="val_loss",
            direction="minimize",
            smiles_col="smiles",
            task_names=list(TASKS),
            transforms=transforms or {},
            data_hash="d",
            split_hash="h",
            members=records,
        )
        write_manifest(folder, manifest)
        return folder

    return make
