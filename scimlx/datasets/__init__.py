"""The suite's PDE data: generators built on the core's solvers, `load` with an on-disk cache, and readers and
writers for the public formats (FNO `.mat`, PDEBench HDF5, `.npz`)."""

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
