"""The joint sampler (SPEC section 2): task oversampling x quality curriculum inside experiment-aware,
condition-balanced, leaky batches.

Typical use by the training code::

    sampler = build_batch_sampler(cfg.sampling, train.targets, batch_size=cfg.trainer.batch_size,
                                  quality=train.quality, experiment=train.experiment,
                                  condition=train.condition, task_names=train.target_names)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=chemprop.data.collate_batch)
    # each epoch: sampler.set_epoch(epoch); after validation: sampler.curriculum.update(epoch, val_loss)
"""

from admet_hpo.sampling.batch_sampler import FlexibleBatchSampler, QualityShareWarning, SmallCellWarning
from admet_hpo.sampling.curriculum import DEFAULT_PHASE_WEIGHTS, CurriculumState, phases_for
from admet_hpo.sampling.factory import build_batch_sampler, build_curriculum
from admet_hpo.sampling.joint_sampler import JointSampler
from admet_hpo.sampling.quotas import largest_remainder
from admet_hpo.sampling.statistics import WeightStatistics, weight_statistics
from admet_hpo.sampling.tasks import label_counts, primary_tasks, task_weights
from admet_hpo.sampling.weighting import JointWeighting, joint_weights

__all__ = [
    "DEFAULT_PHASE_WEIGHTS",
    "CurriculumState",
    "FlexibleBatchSampler",
    "JointSampler",
    "JointWeighting",
    "QualityShareWarning",
    "SmallCellWarning",
    "WeightStatistics",
    "build_batch_sampler",
    "build_curriculum",
    "joint_weights",
    "label_counts",
    "largest_remainder",
    "phases_for",
    "primary_tasks",
    "task_weights",
    "weight_statistics",
]
