"""Interoperability: scimlx's Equinox models as Flax modules ([`to_nnx`][scimlx.interop.to_nnx],
[`to_linen`][scimlx.interop.to_linen]), the same outputs and gradients."""

from ._flax import Constant as Constant
from ._flax import LinenOperator as LinenOperator
from ._flax import LinenPointModel as LinenPointModel
from ._flax import NNXOperator as NNXOperator
from ._flax import NNXPointModel as NNXPointModel
from ._flax import to_linen as to_linen
from ._flax import to_nnx as to_nnx

__all__ = [
    "Constant",
    "LinenOperator",
    "LinenPointModel",
    "NNXOperator",
    "NNXPointModel",
    "to_linen",
    "to_nnx",
]
