"""The suite's PDE data: generators built on the core's solvers, `load` with an on-disk cache, and readers and
writers for the public formats (FNO `.mat`, PDEBench HDF5, `.npz`)."""

from ._burgers import (
    burgers_1d_solve as burgers_1d_solve,
)
from ._burgers import (
    burgers_grf as burgers_grf,
)
from ._burgers import (
    grf1_eigenvalues as grf1_eigenvalues,
)
from ._darcy import (
    darcy_coefficient as darcy_coefficient,
)
from ._darcy import (
    darcy_operator as darcy_operator,
)
from ._darcy import (
    darcy_solve as darcy_solve,
)
from ._dataset import (
    CorruptedDataError as CorruptedDataError,
)
from ._dataset import (
    PDEDataset as PDEDataset,
)
from ._dataset import (
    cache_dir as cache_dir,
)
from ._dataset import (
    load as load,
)
from ._dataset import (
    save_arrays as save_arrays,
)
from ._dataset import (
    verify_file as verify_file,
)
from ._finite_volume import (
    CAPE_ADVECTION_BETAS as CAPE_ADVECTION_BETAS,
)
from ._finite_volume import (
    CAPE_BURGERS_NUS as CAPE_BURGERS_NUS,
)
from ._finite_volume import (
    LIMITERS as LIMITERS,
)
from ._finite_volume import (
    PDEBENCH_ADVECTION_BETAS as PDEBENCH_ADVECTION_BETAS,
)
from ._finite_volume import (
    PDEBENCH_BURGERS_NUS as PDEBENCH_BURGERS_NUS,
)
from ._finite_volume import (
    advection_fv_solve as advection_fv_solve,
)
from ._finite_volume import (
    burgers_fv_solve as burgers_fv_solve,
)
from ._finite_volume import (
    muscl_faces as muscl_faces,
)
from ._formats import (
    read_array_file as read_array_file,
)
from ._formats import (
    read_mat as read_mat,
)
from ._formats import (
    read_npz as read_npz,
)
from ._formats import (
    read_pdebench as read_pdebench,
)
from ._formats import (
    write_mat as write_mat,
)
from ._formats import (
    write_npz as write_npz,
)
from ._formats import (
    write_pdebench as write_pdebench,
)
from ._fractional import fbm_covariance as fbm_covariance
from ._fractional import fbm_variance_factor as fbm_variance_factor
from ._fractional import fractional_ou_paths as fractional_ou_paths
from ._fractional import sample_fbm as sample_fbm
from ._from_files import (
    load_file as load_file,
)
from ._kuramoto_sivashinsky import (
    kassam_trefethen_initial_condition as kassam_trefethen_initial_condition,
)
from ._kuramoto_sivashinsky import (
    ks_linear_operator as ks_linear_operator,
)
from ._kuramoto_sivashinsky import (
    ks_nonlinear as ks_nonlinear,
)
from ._kuramoto_sivashinsky import (
    ks_solve as ks_solve,
)
from ._kuramoto_sivashinsky import (
    medida_initial_condition as medida_initial_condition,
)
from ._kuramoto_sivashinsky import (
    spectral_derivative as spectral_derivative,
)
from ._navier_stokes import (
    fno_forcing as fno_forcing,
)
from ._navier_stokes import (
    navier_stokes_2d_solve as navier_stokes_2d_solve,
)
from ._navier_stokes import (
    ns_vorticity_rhs as ns_vorticity_rhs,
)
from ._navier_stokes import (
    velocity_from_vorticity as velocity_from_vorticity,
)
from ._pdebench_ic import (
    pdebench_initial_condition as pdebench_initial_condition,
)
from ._plot import (
    plot_samples as plot_samples,
)
from ._poisson_systems import (
    EMPTY as EMPTY,
)
from ._poisson_systems import (
    FLUID as FLUID,
)
from ._poisson_systems import (
    SOLID as SOLID,
)
from ._poisson_systems import (
    PoissonSystem as PoissonSystem,
)
from ._poisson_systems import (
    make_geometry as make_geometry,
)
from ._poisson_systems import (
    poisson_system as poisson_system,
)
from ._poisson_systems import (
    random_rhs as random_rhs,
)
from ._random_fields import (
    grf_neumann as grf_neumann,
)
from ._random_fields import (
    grf_periodic as grf_periodic,
)
from ._recipe import (
    Generated as Generated,
)
from ._recipe import (
    Recipe as Recipe,
)
from ._recipe import (
    generate as generate,
)
from ._recipe import (
    get_recipe as get_recipe,
)
from ._recipe import (
    recipe_names as recipe_names,
)
from ._toy2d import TOY_2D as TOY_2D
from ._toy2d import sample_toy_2d as sample_toy_2d

__all__ = [
    "burgers_1d_solve",
    "burgers_grf",
    "grf1_eigenvalues",
    "darcy_coefficient",
    "darcy_operator",
    "darcy_solve",
    "CorruptedDataError",
    "PDEDataset",
    "cache_dir",
    "load",
    "save_arrays",
    "verify_file",
    "CAPE_ADVECTION_BETAS",
    "CAPE_BURGERS_NUS",
    "LIMITERS",
    "PDEBENCH_ADVECTION_BETAS",
    "PDEBENCH_BURGERS_NUS",
    "advection_fv_solve",
    "burgers_fv_solve",
    "muscl_faces",
    "read_array_file",
    "read_mat",
    "read_npz",
    "read_pdebench",
    "write_mat",
    "write_npz",
    "write_pdebench",
    "fbm_covariance",
    "fbm_variance_factor",
    "fractional_ou_paths",
    "sample_fbm",
    "load_file",
    "kassam_trefethen_initial_condition",
    "ks_linear_operator",
    "ks_nonlinear",
    "ks_solve",
    "medida_initial_condition",
    "spectral_derivative",
    "fno_forcing",
    "navier_stokes_2d_solve",
    "ns_vorticity_rhs",
    "velocity_from_vorticity",
    "pdebench_initial_condition",
    "plot_samples",
    "EMPTY",
    "FLUID",
    "SOLID",
    "PoissonSystem",
    "make_geometry",
    "poisson_system",
    "random_rhs",
    "grf_neumann",
    "grf_periodic",
    "Generated",
    "Recipe",
    "generate",
    "get_recipe",
    "recipe_names",
    "TOY_2D",
    "sample_toy_2d",
]
