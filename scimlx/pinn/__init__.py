"""Physics-informed solvers: the [`Problem`][scimlx.pinn.Problem] API on the core's residuals, the MLP
baseline [`PINN`][scimlx.pinn.PINN], Physics-Informed Gaussians [`PIG`][scimlx.pinn.PIG], where the residual
points go (uniform, [`RAR`][scimlx.pinn.RAR], [`RAD`][scimlx.pinn.RAD], [`DAS`][scimlx.pinn.DAS] and
adversarial adaptive sampling [`AAS`][scimlx.pinn.AAS]), the benchmarks."""

from ._conditions import Condition as Condition
from ._conditions import Dirichlet as Dirichlet
from ._conditions import InitialValue as InitialValue
from ._conditions import InitialVelocity as InitialVelocity
from ._conditions import Neumann as Neumann
from ._conditions import Periodic as Periodic
from ._models import PIG as PIG
from ._models import PINN as PINN
from ._models import PointModel as PointModel
from ._models import map_points as map_points
from ._plot import plot_points as plot_points
from ._plot import plot_solution as plot_solution
from ._problem import Problem as Problem
from ._problems import PAPER_SETTINGS as PAPER_SETTINGS
from ._problems import PROBLEMS as PROBLEMS
from ._problems import allen_cahn_1d as allen_cahn_1d
from ._problems import exponential_nd as exponential_nd
from ._problems import flow_mixing_2p1d as flow_mixing_2p1d
from ._problems import get_problem as get_problem
from ._problems import helmholtz_2d as helmholtz_2d
from ._problems import klein_gordon_2p1d as klein_gordon_2p1d
from ._problems import nonlinear_diffusion_2p1d as nonlinear_diffusion_2p1d
from ._problems import peak_2d as peak_2d
from ._problems import problem_names as problem_names
from ._problems import two_peak_2d as two_peak_2d
from ._reference import allen_cahn_reference as allen_cahn_reference
from ._reference import nonlinear_diffusion_initial as nonlinear_diffusion_initial
from ._reference import nonlinear_diffusion_reference as nonlinear_diffusion_reference
from ._sampling import AAS as AAS
from ._sampling import DAS as DAS
from ._sampling import RAD as RAD
from ._sampling import RAR as RAR
from ._sampling import SAMPLERS as SAMPLERS
from ._sampling import AbstractSampler as AbstractSampler
from ._sampling import SampledModel as SampledModel
from ._sampling import Uniform as Uniform
from ._sampling import get_sampler as get_sampler
from ._sampling import squared_residuals as squared_residuals
from ._training import PINNConfig as PINNConfig
from ._training import PINNResult as PINNResult
from ._training import train_pinn as train_pinn

__all__ = [
    "Condition",
    "Dirichlet",
    "InitialValue",
    "InitialVelocity",
    "Neumann",
    "Periodic",
    "PIG",
    "PINN",
    "PointModel",
    "map_points",
    "plot_points",
    "plot_solution",
    "Problem",
    "PAPER_SETTINGS",
    "PROBLEMS",
    "allen_cahn_1d",
    "exponential_nd",
    "flow_mixing_2p1d",
    "get_problem",
    "helmholtz_2d",
    "klein_gordon_2p1d",
    "nonlinear_diffusion_2p1d",
    "peak_2d",
    "problem_names",
    "two_peak_2d",
    "allen_cahn_reference",
    "nonlinear_diffusion_initial",
    "nonlinear_diffusion_reference",
    "AAS",
    "DAS",
    "RAD",
    "RAR",
    "SAMPLERS",
    "AbstractSampler",
    "SampledModel",
    "Uniform",
    "get_sampler",
    "squared_residuals",
    "PINNConfig",
    "PINNResult",
    "train_pinn",
]
