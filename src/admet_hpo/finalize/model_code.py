"""The ensemble's MLflow "model from code" file: MLflow copies it into the logged model and runs it when
the model is loaded (after putting the model's copy of this package on ``sys.path``), instead of
unpickling a Python object. Importing it sets MLflow's current model; nothing else imports it."""

from mlflow.models import set_model

from admet_hpo.finalize.pyfunc import EnsembleModel

set_model(EnsembleModel())
