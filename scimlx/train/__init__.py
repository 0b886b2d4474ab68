"""The training loop shared by every learned model: run options, training steps, parameters, checkpoints,
optimisers and data-parallel sharding."""

from scimlx._interrupt import Interrupted as Interrupted

from ._checkpoint import CheckpointError as CheckpointError
from ._checkpoint import load_checkpoint as load_checkpoint
from ._checkpoint import read_checkpoint_metadata as read_checkpoint_metadata
from ._checkpoint import save_checkpoint as save_checkpoint
from ._fit import CHECKPOINT_NAME as CHECKPOINT_NAME
from ._fit import FitResult as FitResult
from ._fit import NonFiniteLossError as NonFiniteLossError
from ._fit import fit as fit
from ._optim import adam_l2 as adam_l2
from ._optim import exponential_decay as exponential_decay
from ._optim import lbfgs as lbfgs
from ._optim import one_cycle as one_cycle
from ._optim import one_cycle_momentum as one_cycle_momentum
from ._optim import step_decay as step_decay
from ._optim import switch_at as switch_at
from ._options import RunOptions as RunOptions
from ._params import Fixed as Fixed
from ._params import count_params as count_params
from ._params import trainable as trainable
from ._params import trainable_mask as trainable_mask
from ._recipe import Recipe as Recipe
from ._sharding import DATA_AXIS as DATA_AXIS
from ._sharding import data_mesh as data_mesh
from ._step import AbstractTrainStep as AbstractTrainStep
from ._step import GameStep as GameStep
from ._step import GradientStep as GradientStep
from ._step import Player as Player
from ._step import TrainCarry as TrainCarry

__all__ = [
    "Interrupted",
    "CheckpointError",
    "load_checkpoint",
    "read_checkpoint_metadata",
    "save_checkpoint",
    "CHECKPOINT_NAME",
    "FitResult",
    "NonFiniteLossError",
    "fit",
    "adam_l2",
    "exponential_decay",
    "lbfgs",
    "one_cycle",
    "one_cycle_momentum",
    "step_decay",
    "switch_at",
    "RunOptions",
    "Fixed",
    "count_params",
    "trainable",
    "trainable_mask",
    "Recipe",
    "DATA_AXIS",
    "data_mesh",
    "AbstractTrainStep",
    "GameStep",
    "GradientStep",
    "Player",
    "TrainCarry",
]
