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
from jaxtyping import ArrayLike, Float

from scimlx.core import Box, Grid, GridField
from scimlx.core.stepping import CNAB2
from scimlx.core.validate import check_int

from ._ks_model import KSModel
from ._library import PolynomialDerivativeLibrary
from ._rvm import RVMResult, rvm

__all__ = ["MEDIDAResult", "corrected_model", "medida"]


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


def medida(
    truth: Float[ArrayLike, "records n"],  # noqa: F821
    model: KSModel,
    *,
    samples: int | ArrayLike = 10,
    library: PolynomialDerivativeLibrary | None = None,
    **rvm_options,
) -> MEDIDAResult:
    """Discover `model`'s error from a truth trajectory (noise-free observations).

    **Arguments:**

    - `truth`: `(records, n)` states one model step `model.dt` apart.
    - `model`: the imperfect model (a [`KSModel`][scimlx.control.KSModel]).
    - `samples`: how many sample times, spread evenly over the records (MEDIDA: 10), or their indices
        (each at least 2).
    - `library`: the candidate terms (default: MEDIDA's 24).
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
    u = jnp.asarray(truth)
    forecast = jax.jit(jax.vmap(model))(u[idx - 2], u[idx - 1])
    increments = (u[idx] - forecast) / model.dt
    grid = Grid(model.n, Box(0.0, model.length), periodic=True)
    theta = jax.jit(jax.vmap(lambda v: library(GridField(v, grid))))(u[idx])
    reg = rvm(theta.reshape(-1, len(library)), increments.ravel(), names=library.names, **rvm_options)
    return MEDIDAResult(reg, corrected_model(model, library, reg.coefficients), tuple(int(i) for i in idx))
