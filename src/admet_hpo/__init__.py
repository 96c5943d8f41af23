"""admet-hpo: hyperparameter search for chemprop v2 multi-task ADMET models with a joint sampler."""

__version__ = "0.1.0"
