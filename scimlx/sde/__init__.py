"""Stochastic models: fractional Brownian motion and its Markov approximation, and variational inference for
SDEs driven by it."""

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
from ._gap import GapConfig as GapConfig
from ._gap import PotentialNet as PotentialNet
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
from ._model import ConstantDiffusion as ConstantDiffusion
from ._model import FractionalSDE as FractionalSDE
from ._model import LinearDrift as LinearDrift
from ._model import MLPControl as MLPControl
from ._model import SDESolution as SDESolution
from ._training import Lookahead as Lookahead
from ._training import SDEConfig as SDEConfig
from ._training import elbo as elbo
from ._training import train_sde as train_sde
