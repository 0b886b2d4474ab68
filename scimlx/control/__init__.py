"""Estimating and correcting dynamical models from data: MEDIDA's sparse Bayesian regression (relevance vector
machine) of model error."""

from ._rvm import RVMResult as RVMResult
from ._rvm import rvm as rvm
