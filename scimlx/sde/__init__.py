"""Stochastic models: fractional Brownian motion and its Markov approximation, and variational inference for
SDEs driven by it; score-based diffusion with Fokker-Planck regularisation; Feynman-Kac-corrected samplers
with sequential-Monte-Carlo resampling."""

from scimlx.datasets._fractional import fbm_covariance as fbm_covariance
from scimlx.datasets._fractional import fractional_ou_paths as fractional_ou_paths
from scimlx.datasets._fractional import sample_fbm as sample_fbm

from ._diffusion import OU as OU
from ._diffusion import VE as VE
from ._diffusion import VP as VP
from ._diffusion import AbstractBetaSDE as AbstractBetaSDE
from ._diffusion import AbstractForwardSDE as AbstractForwardSDE
from ._diffusion import SubVP as SubVP
from ._diffusion import dsm_loss as dsm_loss
from ._diffusion import ode_log_likelihood as ode_log_likelihood
from ._diffusion import sample_probability_flow as sample_probability_flow
from ._diffusion import sample_reverse_sde as sample_reverse_sde
from ._fbm import KINDS as KINDS
from ._fbm import approximation_error as approximation_error
from ._fbm import exp_gammaincc as exp_gammaincc
from ._fbm import gamma_grid as gamma_grid
from ._fbm import markov_fbm_covariance as markov_fbm_covariance
from ._fbm import omega_system as omega_system
from ._fbm import optimal_omega as optimal_omega
from ._fbm import sample_markov_fbm as sample_markov_fbm
from ._fbm import variance_factor as variance_factor
from ._fkc import AbstractFKCTarget as AbstractFKCTarget
from ._fkc import Annealed as Annealed
from ._fkc import FKCResult as FKCResult
from ._fkc import Guided as Guided
from ._fkc import Product as Product
from ._fkc import fkc_log_weight_rate as fkc_log_weight_rate
from ._fkc import sample_fkc as sample_fkc
from ._gap import GapConfig as GapConfig
from ._gap import PotentialNet as PotentialNet
from ._gap import ScoreNet as ScoreNet
from ._gap import fokker_planck_loss as fokker_planck_loss
from ._gap import gap_time_grid as gap_time_grid
from ._gap import histogram_2d as histogram_2d
from ._gap import train_potential as train_potential
from ._gap import w2_squared as w2_squared
from ._linear import augmented_system as augmented_system
from ._linear import bridge_std as bridge_std
from ._linear import exact_transition as exact_transition
from ._linear import fit_linear_model as fit_linear_model
from ._linear import kalman_log_likelihood as kalman_log_likelihood
from ._linear import path_covariance as path_covariance
from ._metrics import mmd_rbf as mmd_rbf
from ._metrics import total_variation as total_variation
from ._metrics import w2_samples as w2_samples
from ._mixture import GaussianMixture as GaussianMixture
from ._mixture import mode_masses as mode_masses
from ._model import ConstantDiffusion as ConstantDiffusion
from ._model import FractionalSDE as FractionalSDE
from ._model import LinearDrift as LinearDrift
from ._model import MLPControl as MLPControl
from ._model import SDESolution as SDESolution
from ._smc import RESAMPLING as RESAMPLING
from ._smc import effective_sample_size as effective_sample_size
from ._smc import normalised_weights as normalised_weights
from ._smc import resample as resample
from ._training import Lookahead as Lookahead
from ._training import SDEConfig as SDEConfig
from ._training import elbo as elbo
from ._training import train_sde as train_sde

__all__ = [
    "fbm_covariance",
    "fractional_ou_paths",
    "sample_fbm",
    "OU",
    "VE",
    "VP",
    "AbstractBetaSDE",
    "AbstractForwardSDE",
    "SubVP",
    "dsm_loss",
    "ode_log_likelihood",
    "sample_probability_flow",
    "sample_reverse_sde",
    "KINDS",
    "approximation_error",
    "exp_gammaincc",
    "gamma_grid",
    "markov_fbm_covariance",
    "omega_system",
    "optimal_omega",
    "sample_markov_fbm",
    "variance_factor",
    "AbstractFKCTarget",
    "Annealed",
    "FKCResult",
    "Guided",
    "Product",
    "fkc_log_weight_rate",
    "sample_fkc",
    "GapConfig",
    "PotentialNet",
    "ScoreNet",
    "fokker_planck_loss",
    "gap_time_grid",
    "histogram_2d",
    "train_potential",
    "w2_squared",
    "augmented_system",
    "bridge_std",
    "exact_transition",
    "fit_linear_model",
    "kalman_log_likelihood",
    "path_covariance",
    "mmd_rbf",
    "total_variation",
    "w2_samples",
    "GaussianMixture",
    "mode_masses",
    "ConstantDiffusion",
    "FractionalSDE",
    "LinearDrift",
    "MLPControl",
    "SDESolution",
    "RESAMPLING",
    "effective_sample_size",
    "normalised_weights",
    "resample",
    "Lookahead",
    "SDEConfig",
    "elbo",
    "train_sde",
]
