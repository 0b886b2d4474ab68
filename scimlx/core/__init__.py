"""The shared PDE-residual core: geometry, the two field backends, the equation catalogue, linear algebra and
metrics. It imports nothing else of scimlx."""

from . import equations as equations
from . import linalg as linalg
from . import metrics as metrics
from . import validate as validate
from .equations import (
    EQUATIONS as EQUATIONS,
)
from .equations import (
    Advection as Advection,
)
from .equations import (
    AllenCahn as AllenCahn,
)
from .equations import (
    Burgers as Burgers,
)
from .equations import (
    Darcy as Darcy,
)
from .equations import (
    DriftDiffusion as DriftDiffusion,
)
from .equations import (
    Equation as Equation,
)
from .equations import (
    FokkerPlanck as FokkerPlanck,
)
from .equations import (
    Heat as Heat,
)
from .equations import (
    Helmholtz as Helmholtz,
)
from .equations import (
    KleinGordon as KleinGordon,
)
from .equations import (
    KuramotoSivashinsky as KuramotoSivashinsky,
)
from .equations import (
    NavierStokes2DVorticity as NavierStokes2DVorticity,
)
from .equations import (
    NonlinearDiffusion as NonlinearDiffusion,
)
from .equations import (
    Poisson as Poisson,
)
from .equations import (
    get_equation as get_equation,
)
from .equations import (
    ns_fno_forcing as ns_fno_forcing,
)
from .fields import (
    AbstractField as AbstractField,
)
from .fields import (
    GridField as GridField,
)
from .fields import (
    PointField as PointField,
)
from .fields import (
    fornberg_weights as fornberg_weights,
)
from .geometry import (
    Box as Box,
)
from .geometry import (
    Grid as Grid,
)
from .geometry import (
    sample_boundary as sample_boundary,
)
from .geometry import (
    sample_initial as sample_initial,
)
from .geometry import (
    sample_interior as sample_interior,
)
from .geometry import (
    sample_quasirandom as sample_quasirandom,
)
from .linalg import (
    BreakdownWarning as BreakdownWarning,
)
from .linalg import (
    LinearOperator as LinearOperator,
)
from .linalg import (
    PoissonSystem as PoissonSystem,
)
from .linalg import (
    SolveResult as SolveResult,
)
from .linalg import (
    as_operator as as_operator,
)
from .linalg import (
    cg as cg,
)
from .linalg import (
    pcg as pcg,
)
from .linalg import (
    poisson_system as poisson_system,
)
from .metrics import (
    fourier_band_rmse as fourier_band_rmse,
)
from .metrics import (
    max_error as max_error,
)
from .metrics import (
    nrmse as nrmse,
)
from .metrics import (
    rel_l2 as rel_l2,
)
from .metrics import (
    rmse as rmse,
)

__all__ = [
    "EQUATIONS",
    "Advection",
    "AllenCahn",
    "Burgers",
    "Darcy",
    "DriftDiffusion",
    "Equation",
    "FokkerPlanck",
    "Heat",
    "Helmholtz",
    "KleinGordon",
    "KuramotoSivashinsky",
    "NavierStokes2DVorticity",
    "NonlinearDiffusion",
    "Poisson",
    "get_equation",
    "ns_fno_forcing",
    "AbstractField",
    "GridField",
    "PointField",
    "fornberg_weights",
    "Box",
    "Grid",
    "sample_boundary",
    "sample_initial",
    "sample_interior",
    "sample_quasirandom",
    "BreakdownWarning",
    "LinearOperator",
    "PoissonSystem",
    "SolveResult",
    "as_operator",
    "cg",
    "pcg",
    "poisson_system",
    "fourier_band_rmse",
    "max_error",
    "nrmse",
    "rel_l2",
    "rmse",
]
