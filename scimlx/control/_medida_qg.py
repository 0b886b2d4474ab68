"""MEDIDA on the two-layer QG model (Mojgani, Chattopadhyay & Hassanzadeh, JAMES 2024).

For sample states of the reference run, the reference is advanced two steps (forward Euler, then leapfrog)
from the exact state; the streamfunctions before and after are observed (noise `noise std(ψ_k)`, at a fraction
`sensors` of the grid points, the same points every time) and, when sparse, interpolated onto the grid (an
[`RFFInterpolator`][scimlx.control.RFFInterpolator]); the imperfect model takes the same two steps from the
observed initial state. The increment of each layer's PV over the elapsed `2 Δt` is regressed, layer by layer,
on the [`QGLibrary`][scimlx.control.QGLibrary] evaluated at the model's state after its first step (the
midpoint of the leapfrog step), `boundary_cut` points trimmed from every side (the sponge layers).

The reference code divides the increment by `Δt` although two steps have elapsed, which doubles every
coefficient; here it is divided by `2 Δt`.
"""

import copy

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float, PRNGKeyArray

from scimlx.core import Box
from scimlx.core.validate import check_int, check_key, check_number

from ._interpolate import RFFInterpolator
from ._library import QGLibrary
from ._qg import TwoLayerQG
from ._rvm import RVMResult, rvm

__all__ = ["QGMEDIDAResult", "corrected_qg_model", "medida_qg"]


class QGMEDIDAResult(eqx.Module):
    """The discovered model error of each layer and the corrected model.

    **Arguments:**

    - `layers`: the two [`RVMResult`][scimlx.control.RVMResult]s (upper, lower layer).
    - `model`: the corrected [`TwoLayerQG`][scimlx.control.TwoLayerQG].
    - `samples`: the record indices used.
    - `observation_error`: the relative 2-norm error of the observed (noisy, interpolated) streamfunctions
        against the exact ones, averaged over the samples, times and layers (0 for exact observations).
    """

    layers: tuple[RVMResult, RVMResult]
    model: TwoLayerQG
    samples: tuple[int, ...] = eqx.field(static=True)
    observation_error: float = eqx.field(static=True, default=0.0)

    def __str__(self) -> str:
        return f"q1_t = model + {self.layers[0]}\nq2_t = model + {self.layers[1]}"


def corrected_qg_model(
    model: TwoLayerQG,
    library: QGLibrary,
    coefficients: Float[ArrayLike, "2 m"],  # noqa: F821
) -> TwoLayerQG:
    """`model` with `Σ_i w_ki θ_i(ψ)` added to layer `k`'s PV tendency."""
    if not isinstance(model, TwoLayerQG):
        raise TypeError(f"`model` must be a TwoLayerQG, got {type(model).__name__}")
    if not isinstance(library, QGLibrary):
        raise TypeError(f"`library` must be a QGLibrary, got {type(library).__name__}")
    w = jnp.asarray(coefficients, float)
    if w.shape != (2, len(library)):
        raise ValueError(f"`coefficients` must have shape (2, {len(library)}), got {w.shape}")
    out = copy.copy(model)
    object.__setattr__(out, "correction", (library, w))  # a frozen Module: set on the fresh copy
    return out


def medida_qg(
    states: Float[ArrayLike, "records 2 ny nx"],  # noqa: F821
    reference: TwoLayerQG,
    model: TwoLayerQG,
    *,
    samples: int | ArrayLike = 10,
    sensors: float = 1.0,
    noise: float = 0.0,
    interpolator: RFFInterpolator | None = None,
    library: QGLibrary | None = None,
    boundary_cut: int = 20,
    key: PRNGKeyArray | None = None,
    progress: bool = False,
    **rvm_options,
) -> QGMEDIDAResult:
    """Discover `model`'s error against `reference` from sample states of the reference run.

    **Arguments:**

    - `states`: `(records, 2, ny, nx)` PV anomalies of the reference run (e.g. from `reference.run`).
    - `reference`, `model`: the reference and the imperfect [`TwoLayerQG`][scimlx.control.TwoLayerQG] (same
        grid and step).
    - `samples`: how many records, spread evenly, or their indices.
    - `sensors`: the observed fraction of the grid points (MEDIDA-QG: 0.25; 1: every point, no interpolation).
    - `noise`: the relative observation noise on the streamfunctions (MEDIDA-QG: 0.001).
    - `interpolator`: for sparse observations (default: MEDIDA-QG's
        [`RFFInterpolator`][scimlx.control.RFFInterpolator], 200,000 steps per field: a GPU's work).
    - `library`: the candidate terms (default: MEDIDA-QG's ten, [`QGLibrary`][scimlx.control.QGLibrary]).
    - `boundary_cut`: grid points trimmed from every side before the regression (MEDIDA-QG: 20).
    - `key`: a PRNG key (needed with noise or sparse observations).
    - `progress`: progress bars for the interpolations.
    - `rvm_options`: passed to [`rvm`][scimlx.control.rvm].
    """
    for name, m in (("reference", reference), ("model", model)):
        if not isinstance(m, TwoLayerQG):
            raise TypeError(f"`{name}` must be a TwoLayerQG, got {type(m).__name__}")
    if (reference.nx, reference.ny, reference.lx, reference.ly, reference.dt) != (
        model.nx, model.ny, model.lx, model.ly, model.dt
    ):  # fmt: skip
        raise ValueError("`reference` and `model` must share the grid, the domain and the time step")
    states = np.asarray(states)
    if states.ndim != 4 or states.shape[1:] != (2, model.ny, model.nx):
        raise ValueError(f"`states` must have shape (records, 2, {model.ny}, {model.nx}), got {states.shape}")
    sensors = check_number("sensors", sensors, low=0.0, high=1.0, low_open=True)
    noise = check_number("noise", noise, low=0.0)
    cut = check_int("boundary_cut", boundary_cut, low=0)
    if 2 * cut >= min(model.nx, model.ny):
        raise ValueError(f"`boundary_cut` {cut} leaves no grid points of the {model.ny} x {model.nx} grid")
    library = QGLibrary() if library is None else library
    if not isinstance(library, QGLibrary):
        raise TypeError(f"`library` must be a QGLibrary, got {type(library).__name__}")
    if interpolator is None and sensors < 1:
        interpolator = RFFInterpolator()
    if interpolator is not None and not isinstance(interpolator, RFFInterpolator):
        raise TypeError(
            f"`interpolator` must be an RFFInterpolator or None, got {type(interpolator).__name__}"
        )
    if noise > 0 or sensors < 1:
        if key is None:
            raise ValueError("`key` is needed with `noise` or sparse `sensors` (they draw random numbers)")
        key = check_key(key)
    if np.ndim(samples) == 0:
        count = check_int("samples", samples)
        idx = np.unique(np.linspace(0, states.shape[0] - 1, count).astype(int))
    else:
        idx = np.asarray(samples, int)
        if idx.ndim != 1 or idx.size == 0 or idx.min() < 0 or idx.max() >= states.shape[0]:
            raise ValueError(f"`samples` must be record indices in [0, {states.shape[0] - 1}]")

    x, y = model.coordinates
    xx, yy = np.meshgrid(x, y)
    grid = np.stack([xx.ravel(), yy.ravel()], axis=-1)
    box = Box((-model.lx / 2, -model.ly / 2), (model.lx / 2, model.ly / 2))
    if sensors < 1:
        key, kmask = jax.random.split(key)
        count = max(1, round(sensors * grid.shape[0]))
        observed = np.asarray(jax.random.permutation(kmask, grid.shape[0]))[:count]
    advance = jax.jit(lambda m, q: m.step(m.start(q)))
    start = jax.jit(lambda m, q: m.start(q))
    psi_of = jax.jit(lambda m, q: m.streamfunction(q))
    library_at = jax.jit(lambda m, psi: library(m, psi))
    errors = []

    def observe(psi, k):
        kn, ki = jax.random.split(k)
        std = jnp.std(psi, axis=(-2, -1), keepdims=True)
        obs = psi + noise * std * jax.random.normal(kn, psi.shape, psi.dtype)
        if sensors < 1:
            layers = []
            for layer, kl in zip(obs, jax.random.split(ki, 2)):
                vals = layer.ravel()[observed]
                fitted = interpolator(grid[observed], vals, box, grid, key=kl, progress=progress)
                layers.append(fitted.reshape(layer.shape))
            obs = jnp.stack(layers)
        errors.append(float(jnp.linalg.norm(obs - psi) / jnp.linalg.norm(psi)))
        return obs

    targets, thetas = [], []
    for j in idx:
        q0 = jnp.asarray(states[j])
        _, q_ref = advance(reference, q0)
        if noise > 0 or sensors < 1:
            key, k0, k2 = jax.random.split(key, 3)
            psi0, psi2 = observe(psi_of(reference, q0), k0), observe(psi_of(reference, q_ref), k2)
            q0_obs, q2_obs = model.potential_vorticity(psi0), model.potential_vorticity(psi2)
        else:
            q0_obs, q2_obs = q0, q_ref
        _, q_model = advance(model, q0_obs)
        _, mid = start(model, q0_obs)  # the model's state after its first step
        target = (q2_obs - q_model) / (2 * model.dt)  # (2, ny, nx)
        theta = library_at(model, psi_of(model, mid))  # (ny, nx, m)
        sl = (slice(cut, model.ny - cut), slice(cut, model.nx - cut))
        targets.append(target[(slice(None), *sl)].reshape(2, -1))
        thetas.append(theta[sl].reshape(-1, len(library)))
    y_all = jnp.concatenate(targets, axis=1)
    theta_all = jnp.concatenate(thetas, axis=0)
    layers = tuple(rvm(theta_all, y_all[k], names=library.names, **rvm_options) for k in range(2))
    w = jnp.stack([r.coefficients for r in layers])
    return QGMEDIDAResult(layers, corrected_qg_model(model, library, w), tuple(int(i) for i in idx),
                          float(np.mean(errors)) if errors else 0.0)  # fmt: skip
