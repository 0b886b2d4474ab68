"""The shared PDE-residual core: geometry, the two field backends, the equation catalogue, linear algebra and
metrics. It imports nothing else of scimlx."""

from . import equations as equations, linalg as linalg, metrics as metrics
from .equations import (
    EQUATIONS as EQUATIONS,
    Advection as Advection,
    AllenCahn as AllenCahn,
    Burgers as Burgers,
    Darcy as Darcy,
    Equation as Equation,
    FokkerPlanck as FokkerPlanck,
    Heat as Heat,
    Helmholtz as Helmholtz,
    KleinGordon as KleinGordon,
    KuramotoSivashinsky as KuramotoSivashinsky,
    NavierStokes2DVorticity as NavierStokes2DVorticity,
    Poisson as Poisson,
    get_equation as get_equation,
    ns_fno_forcing as ns_fno_forcing,
)
from .fields import (
    AbstractField as AbstractField,
    GridField as GridField,
    PointField as PointField,
    fornberg_weights as fornberg_weights,
)
from .geometry import (
    Box as Box,
    Grid as Grid,
    sample_boundary as sample_boundary,
    sample_initial as sample_initial,
    sample_interior as sample_interior,
    sample_quasirandom as sample_quasirandom,
)
from .linalg import (
    LinearOperator as LinearOperator,
    SolveResult as SolveResult,
    as_operator as as_operator,
    cg as cg,
    pcg as pcg,
)
from .metrics import (
    fourier_band_rmse as fourier_band_rmse,
    max_error as max_error,
    nrmse as nrmse,
    rel_l2 as rel_l2,
    rmse as rmse,
)
