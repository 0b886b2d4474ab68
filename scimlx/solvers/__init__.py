"""Linear solvers for large SPD systems: the core's conjugate gradients (re-exported), a geometric multigrid
preconditioner, and the deep conjugate direction method (DCDM) with its network, data and training."""

from scimlx.core.linalg import BreakdownWarning as BreakdownWarning
from scimlx.core.linalg import LinearOperator as LinearOperator
from scimlx.core.linalg import SolveResult as SolveResult
from scimlx.core.linalg import as_operator as as_operator
from scimlx.core.linalg import cg as cg
from scimlx.core.linalg import pcg as pcg

from ._dcdm import DCDM_VARIANTS as DCDM_VARIANTS
from ._dcdm import DCDMNet as DCDMNet
from ._dcdm import dcdm as dcdm
from ._dcdm import dcdm_loss as dcdm_loss
from ._dcdm import lanczos as lanczos
from ._dcdm import ritz_pairs as ritz_pairs
from ._dcdm import ritz_rhs as ritz_rhs
from ._multigrid import MultigridPreconditioner as MultigridPreconditioner
from ._multigrid import multigrid_preconditioner as multigrid_preconditioner
from ._pretrained import PRETRAINED as PRETRAINED
from ._pretrained import pretrained_dcdm as pretrained_dcdm
from ._pretrained import pretrained_info as pretrained_info
from ._training import DCDMConfig as DCDMConfig
from ._training import train_dcdm as train_dcdm

__all__ = [
    "BreakdownWarning",
    "LinearOperator",
    "SolveResult",
    "as_operator",
    "cg",
    "pcg",
    "DCDM_VARIANTS",
    "DCDMNet",
    "dcdm",
    "dcdm_loss",
    "lanczos",
    "ritz_pairs",
    "ritz_rhs",
    "MultigridPreconditioner",
    "multigrid_preconditioner",
    "PRETRAINED",
    "pretrained_dcdm",
    "pretrained_info",
    "DCDMConfig",
    "train_dcdm",
]
