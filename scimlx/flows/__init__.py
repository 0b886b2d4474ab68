"""Normalising flows with exact log-densities and sampling: KRnet (the generator of DAS and AAS) and RealNVP,
their layers, and the bases to build others. Shared by the physics-informed samplers and the stochastic
models."""

from ._base import AbstractBijector as AbstractBijector
from ._base import AbstractFlow as AbstractFlow
from ._base import Chain as Chain
from ._krnet import KRnet as KRnet
from ._krnet import LogitBox as LogitBox
from ._krnet import QuadraticCDF as QuadraticCDF
from ._krnet import RealNVP as RealNVP
from ._krnet import sample_in_box as sample_in_box
from ._layers import ActNorm as ActNorm
from ._layers import AffineCoupling as AffineCoupling
from ._layers import Reverse as Reverse

__all__ = [
    "AbstractBijector",
    "AbstractFlow",
    "Chain",
    "KRnet",
    "LogitBox",
    "QuadraticCDF",
    "RealNVP",
    "sample_in_box",
    "ActNorm",
    "AffineCoupling",
    "Reverse",
]
