"""The training loop shared by every learned model, with checkpoints and optimisers."""

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
from ._optim import step_decay as step_decay
