"""Experiment trackers as loggers: MLflow (`loggers=[mlflow]`) and Weights & Biases (`loggers=[wandb]`).

Both need `pip install "ganhub[trackers]"`. Their libraries are imported inside the loggers,
never at module import, so registering them costs `ganhub --help` nothing; a missing package
is a one-line error when the config resolves, before anything is trained.

What each records: the resolved config (MLflow: flattened params plus config.yaml as an
artifact; W&B: the run config plus config.yaml, as ganhub-config.yaml), every logged metric
with its step, every sample artifact as it is written, and the newest checkpoint when the run
ends. A resumed run continues the same tracker run: its id is kept in the run directory
(`mlflow_run.json`, `wandb_run.json`), and read back as untrusted input.
"""

from ganhub.loggers.trackers.common import INSTALL
from ganhub.loggers.trackers.mlflow_logger import MLFLOW_RUN_FILE, MLflowLogger, MLflowOptions
from ganhub.loggers.trackers.wandb_logger import WANDB_RUN_FILE, WandbLogger, WandbOptions

__all__ = [
    "INSTALL",
    "MLFLOW_RUN_FILE",
    "WANDB_RUN_FILE",
    "MLflowLogger",
    "MLflowOptions",
    "WandbLogger",
    "WandbOptions",
]
