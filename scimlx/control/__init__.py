"""Estimating and correcting dynamical models from data: MEDIDA's sparse Bayesian regression (relevance vector
machine) of model error on the Kuramoto-Sivashinsky equation and the two-layer QG model, the ensemble Kalman
filter, and random-Fourier-feature interpolation of sparse observations."""

from ._enkf import EnKF as EnKF
from ._enkf import GaspariCohn as GaspariCohn
from ._enkf import gaspari_cohn as gaspari_cohn
from ._interpolate import RFFInterpolator as RFFInterpolator
from ._ks_model import MEDIDA_CASES as MEDIDA_CASES
from ._ks_model import KSModel as KSModel
from ._ks_model import medida_case_error as medida_case_error
from ._library import PolynomialDerivativeLibrary as PolynomialDerivativeLibrary
from ._library import QGLibrary as QGLibrary
from ._medida import Assimilation as Assimilation
from ._medida import MEDIDAResult as MEDIDAResult
from ._medida import corrected_model as corrected_model
from ._medida import medida as medida
from ._medida_qg import QGMEDIDAResult as QGMEDIDAResult
from ._medida_qg import corrected_qg_model as corrected_qg_model
from ._medida_qg import medida_qg as medida_qg
from ._qg import QG_CASES as QG_CASES
from ._qg import TwoLayerQG as TwoLayerQG
from ._qg import qg_case_error as qg_case_error
from ._qg import qg_topography as qg_topography
from ._rvm import RVMResult as RVMResult
from ._rvm import rvm as rvm

__all__ = [
    "EnKF",
    "GaspariCohn",
    "gaspari_cohn",
    "RFFInterpolator",
    "MEDIDA_CASES",
    "KSModel",
    "medida_case_error",
    "PolynomialDerivativeLibrary",
    "QGLibrary",
    "Assimilation",
    "MEDIDAResult",
    "corrected_model",
    "medida",
    "QGMEDIDAResult",
    "corrected_qg_model",
    "medida_qg",
    "QG_CASES",
    "TwoLayerQG",
    "qg_case_error",
    "qg_topography",
    "RVMResult",
    "rvm",
]
