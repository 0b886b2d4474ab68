"""MEDIDA (Mojgani, Chattopadhyay and Hassanzadeh, Chaos 2022): model-error discovery from increments.

For sample times `t`, the imperfect model forecasts one step from the observed states at `t - 2 dt` and
`t - dt`; the increment `y = (u(t) - forecast) / dt ≈ u_t,true - u_t,model` is regressed on a library of
candidate terms evaluated at `u(t)` by the relevance vector machine. The kept terms are the model's error:
the corrected model is `u_t = model + Σ_i w_i φ_i(u)`. Its terms linear in `u` (`u`, `∂_x^d u`) join the
implicit (Crank-Nicolson) part of the stepper, which keeps a discovered hyperdiffusion stable; the others join
the explicit (Adams-Bashforth) part.

This module runs the noise-free pipeline on a periodic 1-D model of the
[`KSModel`][scimlx.control.KSModel] kind; noisy observations with the ensemble Kalman filter analysis and
the two-layer QG cases are not here yet.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float, PRNGKeyArray

from scimlx.core import Box, Grid, GridField
from scimlx.core.stepping import CNAB2
from scimlx.core.validate import check_choice, check_int, check_key, check_number

from ._enkf import EnKF, GaspariCohn
from ._ks_model import KSModel
from ._library import PolynomialDerivativeLibrary
from ._rvm import RVMResult, rvm

__all__ = ["Assimilation", "MEDIDAResult", "corrected_model", "medida"]


class MEDIDAResult(eqx.Module):
    """The discovered model error and the corrected model.

    **Arguments:**

    - `regression`: the [`RVMResult`][scimlx.control.RVMResult] over the library's terms.
    - `model`: the corrected model (same interface as the imperfect one).
    - `samples`: the record indices used.
    """

    regression: RVMResult
    model: KSModel
    samples: tuple[int, ...] = eqx.field(static=True)

    def __str__(self) -> str:
        return f"u_t = model + {self.regression}"


def corrected_model(
    model: KSModel, library: PolynomialDerivativeLibrary, coefficients: Float[ArrayLike, " m"]
) -> KSModel:
    """`model` plus `Σ_i w_i φ_i(u)` on its right-hand side: the terms linear in `u` in the implicit part, the
    others in the explicit part of its CNAB2 stepper."""
    if not isinstance(model, KSModel):
        raise TypeError(f"`model` must be a KSModel, got {type(model).__name__}")
    if not isinstance(library, PolynomialDerivativeLibrary):
        raise TypeError(f"`library` must be a PolynomialDerivativeLibrary, got {type(library).__name__}")
    w = np.asarray(coefficients, float)
    terms = library.terms
    if w.shape != (len(terms),):
        raise ValueError(f"`coefficients` must have the library's {len(terms)} entries, got shape {w.shape}")
    k = 2 * np.pi * np.fft.rfftfreq(model.n, d=model.length / model.n)
    multiplier = np.zeros(k.shape, complex)
    nonlinear_terms = []
    for (p, d), c in zip(terms, w, strict=True):
        if c == 0:
            continue
        if (p == 0 and d > 0) or (p == 1 and d == 0):  # ∂^d u or u: a Fourier multiplier
            sym = (1j * k) ** d
            if d % 2 and model.n % 2 == 0:
                sym[-1] = 0.0  # odd derivatives vanish on the Nyquist mode
            multiplier += c * sym
        else:
            nonlinear_terms.append((p, d, float(c)))
    linear = model.linear + jnp.asarray(
        multiplier, model.linear.dtype if jnp.iscomplexobj(model.linear) else complex
    )
    if np.all(np.imag(np.asarray(linear)) == 0):
        linear = jnp.real(linear)
    grid = Grid(model.n, Box(0.0, model.length), periodic=True)
    base = model.stepper.nonlinear
    n = model.n

    def nonlinear(u_hat):
        out = base(u_hat)
        if not nonlinear_terms:
            return out
        u = jnp.fft.irfft(u_hat, n=n, axis=-1)

        def one(v):
            f = GridField(v, grid)
            return sum(c * v**p * (f.d(0, d) if d else 1.0) for p, d, c in nonlinear_terms)

        extra = one(u) if u.ndim == 1 else jax.vmap(one)(u.reshape(-1, n)).reshape(u.shape)
        return out + jnp.fft.rfft(extra, axis=-1)

    stepper = CNAB2(linear, nonlinear, model.dt)
    return eqx.tree_at(lambda m: (m.linear, m.stepper), model, (linear, stepper))


class Assimilation(eqx.Module):
    """MEDIDA's ensemble Kalman filter analysis of the state at the forecast time (noisy observations).

    The earlier observed state `u^n` is perturbed by `N(0, background_std^2)` into `members` states, each
    advanced one model step (from the unperturbed `u^{n-1}`); the stochastic [`EnKF`][scimlx.control.EnKF]
    with every grid point observed and `R = obs_std^2 I` combines these forecasts with the observation at
    the forecast time; the analysis is the ensemble mean, and the increment is the analysis minus the mean
    forecast.

    **Arguments:**

    - `members`: the ensemble size (MEDIDA: `10 n`, ten times the state size).
    - `background_std`: the perturbation of `u^n` (MEDIDA: 0.25).
    - `obs_std`: the filter's observation error, absolute (default: the relative `noise` of
        [`medida`][scimlx.control.medida], used as an absolute value as MEDIDA does).
    - `inflation`, `localisation`: passed to the [`EnKF`][scimlx.control.EnKF] (MEDIDA: none).
    """

    members: int = eqx.field(static=True)
    background_std: float = eqx.field(default=0.25, static=True)
    obs_std: float | None = eqx.field(default=None, static=True)
    inflation: float = eqx.field(default=1.0, static=True)
    localisation: GaspariCohn | None = None

    def __check_init__(self):
        check_int("members", self.members, low=2)
        check_number("background_std", self.background_std, low=0.0, low_open=True)
        if self.obs_std is not None:
            check_number("obs_std", self.obs_std, low=0.0, low_open=True)
        check_number("inflation", self.inflation, low=1.0)


def _noisy(u, noise, key):
    """MEDIDA's observation noise: `u + noise std(u) ξ` per state (the last axis)."""
    std = jnp.std(u, axis=-1, keepdims=True)
    return u + noise * std * jax.random.normal(key, u.shape, u.dtype)


def _increments(model, u2, u1, u, noise, observation, assimilation, key):
    """The increments `(analysis - forecast) / dt` and the analysed states for a batch of sample times."""
    if noise == 0 and assimilation is None:
        return (u - jax.vmap(model)(u2, u1)) / model.dt, u
    k2, k1, k0, kens = jax.random.split(key, 4)
    u2, u1 = _noisy(u2, noise, k2), _noisy(u1, noise, k1)
    obs = u if observation == "truth" else _noisy(u, noise, k0)
    if assimilation is None:  # no filter: the observation is the analysis
        return (obs - jax.vmap(model)(u2, u1)) / model.dt, obs
    obs_std = noise if assimilation.obs_std is None else assimilation.obs_std
    enkf = EnKF(obs_std, inflation=assimilation.inflation, localisation=assimilation.localisation)
    members = assimilation.members

    def one(args):
        a, b, y, k = args
        kb, ka = jax.random.split(k)
        ens = b + assimilation.background_std * jax.random.normal(kb, (members, b.shape[-1]), b.dtype)
        forecast = jax.vmap(model, in_axes=(None, 0))(a, ens)
        analysis = jnp.mean(enkf.analysis(forecast, y, key=ka), axis=0)
        return (analysis - jnp.mean(forecast, axis=0)) / model.dt, analysis

    keys = jax.random.split(kens, u.shape[0])
    return jax.lax.map(one, (u2, u1, obs, keys))  # one sample at a time: the ensemble is the memory


def medida(
    truth: Float[ArrayLike, "records n"],  # noqa: F821
    model: KSModel,
    *,
    samples: int | ArrayLike = 10,
    library: PolynomialDerivativeLibrary | None = None,
    noise: float = 0.0,
    observation: str = "truth",
    assimilation: Assimilation | None = None,
    key: PRNGKeyArray | None = None,
    **rvm_options,
) -> MEDIDAResult:
    """Discover `model`'s error from a truth trajectory, observed exactly or with noise.

    **Arguments:**

    - `truth`: `(records, n)` states one model step `model.dt` apart.
    - `model`: the imperfect model (a [`KSModel`][scimlx.control.KSModel]).
    - `samples`: how many sample times, spread evenly over the records (MEDIDA: 10), or their indices
        (each at least 2).
    - `library`: the candidate terms (default: MEDIDA's 24).
    - `noise`: the relative observation noise (MEDIDA's `NOISE_MAG`, e.g. `0.01`): each observed state the
        model starts from is `u + noise std(u) ξ`, `ξ` white, `std` over the grid.
    - `observation`: the state at the forecast time, against which the forecast is compared: `"truth"`
        (MEDIDA's code: the true state; with `assimilation` the filter's perturbed observations are its only
        noise, and their mean falls as `obs_std / sqrt(members)`), or `"noisy"` (with the same relative noise
        as the states the model starts from: the textbook setting).
    - `assimilation`: an [`Assimilation`][scimlx.control.Assimilation] (MEDIDA's ensemble Kalman filter),
        or `None`: the observation is taken as the analysis.
    - `key`: a PRNG key (needed with noise or assimilation).
    - `rvm_options`: passed to [`rvm`][scimlx.control.rvm] (default MEDIDA's threshold and tolerance).
    """
    if not isinstance(model, KSModel):
        raise TypeError(f"`model` must be a KSModel, got {type(model).__name__}")
    truth = np.asarray(truth)
    if truth.ndim != 2 or truth.shape[1] != model.n:
        raise ValueError(
            f"`truth` must have shape (records, {model.n}) to match the model, got {truth.shape}"
        )
    if truth.shape[0] < 3:
        raise ValueError("`truth` needs at least three records: two to step from and one to compare with")
    library = PolynomialDerivativeLibrary() if library is None else library
    if not isinstance(library, PolynomialDerivativeLibrary):
        raise TypeError(f"`library` must be a PolynomialDerivativeLibrary, got {type(library).__name__}")
    if np.ndim(samples) == 0:
        count = check_int("samples", samples)
        idx = np.unique(np.linspace(2, truth.shape[0] - 1, count).astype(int))
    else:
        idx = np.asarray(samples, int)
        if idx.ndim != 1 or idx.size == 0 or idx.min() < 2 or idx.max() >= truth.shape[0]:
            raise ValueError(f"`samples` must be record indices in [2, {truth.shape[0] - 1}]")
    noise = check_number("noise", noise, low=0.0)
    observation = check_choice("observation", observation, ("truth", "noisy"))
    if assimilation is not None and not isinstance(assimilation, Assimilation):
        raise TypeError(f"`assimilation` must be an Assimilation or None, got {type(assimilation).__name__}")
    if assimilation is not None and noise == 0 and assimilation.obs_std is None:
        raise ValueError("`assimilation` without `noise` needs its `obs_std`")
    if noise > 0 or assimilation is not None:
        if key is None:
            raise ValueError(
                "`key` is needed with `noise` or `assimilation` (the noise and the ensemble draw)"
            )
        key = check_key(key)
    else:
        key = jax.random.key(0)  # unused
    u = jnp.asarray(truth)
    increments, states = eqx.filter_jit(_increments)(
        model, u[idx - 2], u[idx - 1], u[idx], noise, observation, assimilation, key
    )
    grid = Grid(model.n, Box(0.0, model.length), periodic=True)
    theta = jax.jit(jax.vmap(lambda v: library(GridField(v, grid))))(states)
    reg = rvm(theta.reshape(-1, len(library)), increments.ravel(), names=library.names, **rvm_options)
    return MEDIDAResult(reg, corrected_model(model, library, reg.coefficients), tuple(int(i) for i in idx))
