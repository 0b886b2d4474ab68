"""Estimating and correcting dynamical models from data: MEDIDA's sparse Bayesian regression (relevance vector
machine) of model error, and the ensemble Kalman filter."""

from ._enkf import EnKF as EnKF
from ._enkf import GaspariCohn as GaspariCohn
from ._enkf import gaspari_cohn as gaspari_cohn
from ._ks_model import MEDIDA_CASES as MEDIDA_CASES
from ._ks_model import KSModel as KSModel
from ._ks_model import medida_case_error as medida_case_error
from ._library import PolynomialDerivativeLibrary as PolynomialDerivativeLibrary
from ._medida import Assimilation as Assimilation
from ._medida import MEDIDAResult as MEDIDAResult
from ._medida import corrected_model as corrected_model
from ._medida import medida as medida
from ._rvm import RVMResult as RVMResult
from ._rvm import rvm as rvm
