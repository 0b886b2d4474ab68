"""Neural operators: LSM (Latent Spectral Models), MgNO (multigrid), CAPE (PDE-parameter channel attention),
the FNO and U-Net baselines, their training recipes."""

from ._cape import (
    CAPE as CAPE,
)
from ._cape import (
    CAPEModule as CAPEModule,
)
from ._cape import (
    curriculum_t_ar as curriculum_t_ar,
)
from ._common import (
    apply_batch as apply_batch,
)
from ._common import (
    coordinate_channels as coordinate_channels,
)
from ._conv import (
    Conv as Conv,
)
from ._conv import (
    ConvTranspose as ConvTranspose,
)
from ._conv import (
    DoubleConv as DoubleConv,
)
from ._conv import (
    conv as conv,
)
from ._conv import (
    conv_transpose as conv_transpose,
)
from ._fno import (
    FNO as FNO,
)
from ._fno import (
    FNO_CONFIGS as FNO_CONFIGS,
)
from ._fno import (
    SpectralConv as SpectralConv,
)
from ._lsm import (
    LSM as LSM,
)
from ._lsm import (
    NeuralSpectralBlock as NeuralSpectralBlock,
)
from ._lsm import (
    lsm_padding as lsm_padding,
)
from ._lsm import (
    upsample_bilinear_aligned as upsample_bilinear_aligned,
)
from ._mgno import (
    MGNO_CONFIGS as MGNO_CONFIGS,
)
from ._mgno import (
    MgConv as MgConv,
)
from ._mgno import (
    MgNO as MgNO,
)
from ._mgno import (
    prolongation_kernels as prolongation_kernels,
)
from ._training import (
    OperatorConfig as OperatorConfig,
)
from ._training import (
    OperatorTrainResult as OperatorTrainResult,
)
from ._training import (
    UnitGaussianNormalizer as UnitGaussianNormalizer,
)
from ._training import (
    curriculum_rollout as curriculum_rollout,
)
from ._training import (
    evaluate_operator as evaluate_operator,
)
from ._training import (
    relative_h1 as relative_h1,
)
from ._training import (
    relative_l2 as relative_l2,
)
from ._training import (
    rollout as rollout,
)
from ._training import (
    train_operator as train_operator,
)
from ._unet import (
    UNet as UNet,
)

__all__ = [
    "CAPE",
    "CAPEModule",
    "curriculum_t_ar",
    "apply_batch",
    "coordinate_channels",
    "Conv",
    "ConvTranspose",
    "DoubleConv",
    "conv",
    "conv_transpose",
    "FNO",
    "FNO_CONFIGS",
    "SpectralConv",
    "LSM",
    "NeuralSpectralBlock",
    "lsm_padding",
    "upsample_bilinear_aligned",
    "MGNO_CONFIGS",
    "MgConv",
    "MgNO",
    "prolongation_kernels",
    "OperatorConfig",
    "OperatorTrainResult",
    "UnitGaussianNormalizer",
    "curriculum_rollout",
    "evaluate_operator",
    "relative_h1",
    "relative_l2",
    "rollout",
    "train_operator",
    "UNet",
]
