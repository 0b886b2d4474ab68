"""SDEs driven by Markov-approximate fractional Brownian motion, with a variational posterior that shifts the
common noise (Daems et al., ICLR 2024): [`scimlx.sde.FractionalSDE`][], solved by Diffrax.

Per latent dimension `l`, with OU states `Y_{k,l}` and weights `ω_k` (signs as in the paper's code):

- prior: `dY_k = -γ_k Y_k dt + dW`, `dX = b(t, X) dt + s(t, X) Σ_k ω_k dY_k`;
- posterior: the control `u(t, X, Y, context)` shifts the common noise, `dW -> dW + u dt`, in every `Y_k` of
  that dimension; so `dX = [b + s Σ_k ω_k (-γ_k Y_k + u)] dt + s ω̄ dW`, `ω̄ = Σ_k ω_k`;
- prior and posterior differ only by the drift `u` on one Brownian motion, so by Girsanov the path KL is
  `KL(Q || P) = E_Q[1/2 ∫_0^T |u|^2 dt]`, summed over the latent dimensions (the paper's code averages it
  over them in its vectorised path: a slip we do not copy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from scimlx.core.validate import check_callable, check_choice, check_int, check_key, check_number
from scimlx.train import Fixed

from ._fbm import _psd_sqrt, check_gammas, check_hurst, gamma_grid, optimal_omega

__all__ = ["ConstantDiffusion", "FractionalSDE", "LinearDrift", "MLPControl", "SDESolution"]

_NOISE_KINDS = ("I", "II", "brownian")
_SOLVERS = {"euler": "Itô", "heun": "Stratonovich"}


class LinearDrift(eqx.Module):
    """The prior drift `b(t, x) = -θ x` (an Ornstein-Uhlenbeck pull; `θ = 0` is no drift).

    **Arguments:**

    - `theta`: `θ >= 0`, a number or one per latent dimension.
    - `learn`: whether `θ` is trained (then it is `softplus` of a parameter, so it stays positive).
    """

    raw: Array | Fixed
    learn: bool = eqx.field(static=True)

    def __init__(self, theta: ArrayLike = 0.0, *, learn: bool = False):
        theta = jnp.asarray(theta, dtype=float)
        if not bool(jnp.all(theta >= 0)) or not bool(jnp.all(jnp.isfinite(theta))):
            raise ValueError(f"`theta` must be non-negative and finite, got {theta}")
        if learn:
            self.raw = jnp.log(jnp.expm1(jnp.maximum(theta, 1e-6)))  # softplus⁻¹
        else:
            self.raw = Fixed(theta)
        self.learn = learn

    @property
    def theta(self) -> Array:
        return jax.nn.softplus(self.raw) if self.learn else self.raw.value

    def __call__(self, t, x):
        return -self.theta * x


class ConstantDiffusion(eqx.Module):
    """The diffusion `s(t, x) = σ`, constant (additive noise: Itô and Stratonovich readings agree).

    **Arguments:**

    - `sigma`: `σ > 0`, a number or one per latent dimension.
    - `learn`: whether `σ` is trained (then `softplus` of a parameter).
    """

    raw: Array | Fixed
    learn: bool = eqx.field(static=True)

    def __init__(self, sigma: ArrayLike = 1.0, *, learn: bool = False):
        sigma = jnp.asarray(sigma, dtype=float)
        if not bool(jnp.all(sigma > 0)) or not bool(jnp.all(jnp.isfinite(sigma))):
            raise ValueError(f"`sigma` must be positive and finite, got {sigma}")
        self.raw = jnp.log(jnp.expm1(sigma)) if learn else Fixed(sigma)
        self.learn = learn

    @property
    def sigma(self) -> Array:
        return jax.nn.softplus(self.raw) if self.learn else self.raw.value

    def __call__(self, t, x):
        return jnp.broadcast_to(self.sigma, x.shape)


class MLPControl(eqx.Module):
    """The variational control `u(t, x, y, context)`: an MLP of `[sin t, cos t, x, y, context(t)]` (the
    paper's bridge control: two hidden layers of 1000 `tanh` units), its last layer zero-initialised so that
    training starts at the prior.

    **Arguments:**

    - `dim`: `L`, the number of latent dimensions.
    - `num_states`: `K`, the OU states per latent dimension.
    - `context_dim`: the size of the context; 0 (default) for none. With a context, the solver's `args` must
        be a Diffrax path (e.g. `diffrax.LinearInterpolation`) evaluated at `t`.
    - `width`, `depth`: the hidden layers; default 1000 and 2.
    - `linear`: add a linear map of the same inputs, also zero-initialised (ours, not the paper's: the optimal
        control of a linear-Gaussian model is linear in the state and the observations ahead, which a `tanh`
        MLP reaches only slowly when the gains are large, as for rough noise); default `False`.
    - `key`: a PRNG key (keyword-only).
    """

    mlp: eqx.nn.MLP
    linear: eqx.nn.Linear | None
    context_dim: int = eqx.field(static=True)

    def __init__(self, dim: int, num_states: int, *, context_dim: int = 0, width: int = 1000, depth: int = 2,
                 linear: bool = False, key: PRNGKeyArray):  # fmt: skip
        dim = check_int("dim", dim)
        num_states = check_int("num_states", num_states)
        context_dim = check_int("context_dim", context_dim, low=0)
        width, depth = check_int("width", width), check_int("depth", depth)
        mlp = eqx.nn.MLP(2 + dim + dim * num_states + context_dim, dim, width, depth, jnp.tanh,
                         key=check_key(key))  # fmt: skip
        last = mlp.layers[-1]
        last = eqx.tree_at(
            lambda m: (m.weight, m.bias), last, (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias))
        )
        self.mlp = eqx.tree_at(lambda m: m.layers[-1], mlp, last)
        self.context_dim = context_dim
        if not isinstance(linear, bool):
            raise TypeError(f"`linear` must be a bool, got {linear!r}")
        self.linear = None
        if linear:
            lin = eqx.nn.Linear(mlp.in_size, dim, key=key)
            self.linear = eqx.tree_at(
                lambda m: (m.weight, m.bias), lin, (jnp.zeros_like(lin.weight), jnp.zeros_like(lin.bias))
            )

    def __call__(self, t, x, y, args):
        parts = [jnp.stack([jnp.sin(t), jnp.cos(t)]).astype(x.dtype), x, y.ravel()]
        if self.context_dim:
            if args is None:
                raise ValueError("this control takes a context: pass `args=` a path evaluated at `t`")
            parts.append(jnp.asarray(args.evaluate(t), x.dtype).reshape(-1))
        z = jnp.concatenate(parts)
        return self.mlp(z) if self.linear is None else self.mlp(z) + self.linear(z)


class SDESolution(eqx.Module):
    """What [`FractionalSDE.solve`][scimlx.sde.FractionalSDE.solve] returns for one path.

    **Arguments:**

    - `ts`: the save times `(n,)`.
    - `xs`: the latent path `(n, L)`.
    - `ys`: the OU states `(n, K, L)`.
    - `kl`: the path KL `1/2 ∫ |u|^2 dt` from `ts[0]` to each save time `(n,)` (summed over dimensions).
    """

    ts: Float[Array, " n"]
    xs: Float[Array, "n L"]  # noqa: F821
    ys: Float[Array, "n K L"]  # noqa: F821
    kl: Float[Array, " n"]


class _GridBrownian(diffrax.AbstractPath):
    """A Brownian motion sampled on a uniform grid and linearly interpolated: exact increments at the grid,
    cheap, differentiable-through (the solver steps on the same grid)."""

    t0: float
    t1: float
    values: Float[Array, "m L"]  # noqa: F821
    dt: float = eqx.field(static=True)

    def evaluate(self, t0, t1=None, left=True):
        del left
        if t1 is not None:
            return self.evaluate(t1) - self.evaluate(t0)
        pos = jnp.clip((t0 - self.t0) / self.dt, 0, self.values.shape[0] - 1)
        i = jnp.clip(jnp.floor(pos).astype(int), 0, self.values.shape[0] - 2)
        frac = (pos - i).astype(self.values.dtype)
        return self.values[i] * (1 - frac) + self.values[i + 1] * frac


class FractionalSDE(eqx.Module):
    """A latent SDE driven by Markov-approximate fractional Brownian motion, with the variational posterior of
    Daems et al. (ICLR 2024): the control shifts the common noise of the `K` OU states of each latent
    dimension (module docstring for the equations).

    The Hurst index is fixed or learned (`H = sigmoid(h)`, `h` trained; the weights `ω(H) = A⁻¹b` are
    recomputed in the graph, [`scimlx.sde.optimal_omega`][]). `kind="brownian"` is the fallback to ordinary
    Brownian noise: one state with `γ = 0` and `ω = 1`, so that `dX = (b + s u) dt + s dW`, the standard
    latent SDE with posterior drift `b + s u` and KL `1/2 ∫ |(f - b)/s|^2 dt`.

    **Arguments:**

    - `drift`: the prior drift `b(t, x) -> (L,)`, a callable (an `eqx.Module` to train it), e.g.
        [`LinearDrift`][scimlx.sde.LinearDrift].
    - `diffusion`: the diagonal diffusion `s(t, x) -> (L,)`, e.g.
        [`ConstantDiffusion`][scimlx.sde.ConstantDiffusion].
    - `control`: the posterior control `u(t, x, y, args) -> (L,)` (`y` of shape `(K, L)`), e.g.
        [`MLPControl`][scimlx.sde.MLPControl]; `None` for the prior alone.
    - `dim`: `L`, the number of latent dimensions.
    - `hurst`: the (initial) Hurst index in (0, 1); default 1/2.
    - `learn_hurst`: whether to learn it.
    - `kind`: `"I"` (Mandelbrot-Van Ness, the paper's default; the OU states start in their stationary law),
        `"II"` (Riemann-Liouville; they start at 0) or `"brownian"`.
    - `num_states`, `gamma_max`: the speed grid [`scimlx.sde.gamma_grid`][]; default 5 and 20 (the paper's).
    - `gammas`: alternatively, the speeds themselves.
    - `horizon`: the window `[0, T]` the weights are fitted on; default 1.
    """

    drift: Callable
    diffusion: Callable
    control: Callable | None
    gammas: Fixed
    hurst_logit: Array | Fixed
    dim: int = eqx.field(static=True)
    kind: str = eqx.field(static=True)
    horizon: float = eqx.field(static=True)
    learn_hurst: bool = eqx.field(static=True)

    solvers: ClassVar[dict[str, str]] = _SOLVERS

    def __init__(
        self,
        drift: Callable,
        diffusion: Callable,
        control: Callable | None = None,
        *,
        dim: int,
        hurst: float = 0.5,
        learn_hurst: bool = False,
        kind: str = "I",
        num_states: int = 5,
        gamma_max: float = 20.0,
        gammas: ArrayLike | None = None,
        horizon: float = 1.0,
    ):
        self.drift = check_callable("drift", drift)
        self.diffusion = check_callable("diffusion", diffusion)
        self.control = check_callable("control", control, optional=True)
        self.dim = check_int("dim", dim)
        self.kind = check_choice("kind", kind, _NOISE_KINDS)
        self.horizon = check_number("horizon", horizon, low=0.0, low_open=True)
        if not isinstance(learn_hurst, bool):
            raise TypeError(f"`learn_hurst` must be a bool, got {learn_hurst!r}")
        if kind == "brownian":
            if learn_hurst or hurst != 0.5:
                raise ValueError("`kind='brownian'` is Brownian noise: `hurst` is 1/2 and is not learned")
            self.gammas = Fixed(jnp.zeros((1,)))
        elif gammas is not None:
            self.gammas = Fixed(check_gammas(gammas).astype(float))
        else:
            self.gammas = Fixed(gamma_grid(num_states, gamma_max).astype(float))
        check_hurst(hurst)
        logit = jnp.log(hurst) - jnp.log1p(-hurst)
        self.hurst_logit = (
            jnp.asarray(logit, dtype=float) if learn_hurst else Fixed(jnp.asarray(logit, float))
        )
        self.learn_hurst = learn_hurst

    @property
    def num_states(self) -> int:
        return self.gammas.array.shape[0]

    @property
    def hurst(self) -> Array:
        """The Hurst index `sigmoid(h)`."""
        h = self.hurst_logit if self.learn_hurst else self.hurst_logit.value
        return jax.nn.sigmoid(h)

    @property
    def omega(self) -> Float[Array, " K"]:
        """The optimal weights `ω(H)` on `[0, horizon]` (`[1]` for Brownian noise)."""
        if self.kind == "brownian":
            return jnp.ones((1,))
        return optimal_omega(self.hurst, self.gammas.value, self.horizon, self.kind)

    def initial_states(self, key: PRNGKeyArray) -> Float[Array, "K L"]:  # noqa: F821
        """A draw of the OU states at time 0: the joint stationary law (`Cov = 1/(γ_i+γ_j)`) for type I,
        zero otherwise."""
        g = self.gammas.value
        if self.kind != "I":
            return jnp.zeros((g.size, self.dim))
        root = _psd_sqrt(1.0 / (g[:, None] + g[None, :]))
        return root @ jax.random.normal(key, (g.size, self.dim), root.dtype)

    def solve(
        self,
        ts: ArrayLike,
        x0: ArrayLike,
        *,
        key: PRNGKeyArray,
        dt: float,
        args: Any = None,
        solver: str = "euler",
        prior: bool = False,
        y0: ArrayLike | None = None,
    ) -> SDESolution:
        """One path of the posterior (or, with `prior=True` or no control, of the prior), saved at `ts`.

        The state `(x, y, kl)` is integrated by Diffrax on the fixed grid `ts[0] + i dt`: an `ODETerm` for the
        drift and a `ControlTerm` over one Brownian motion of dimension `L`, shared by `x` and the `K` OU
        states of each dimension (its diffusion rows: `s ω̄` for `x`, ones for each `Y_k`, zeros for the KL).
        `solver="euler"` is Euler-Maruyama (the Itô reading), `"heun"` Heun's method (the Stratonovich
        reading); they agree for a constant diffusion. Explicit steps need `γ_max dt < 1/2` (checked, as the
        paper's code does).

        **Arguments:**

        - `ts`: increasing save times; the path starts at `ts[0]`, and `(ts[-1] - ts[0]) / dt` must be an
            integer.
        - `x0`: the start `(L,)`.
        - `key`: a PRNG key (the Brownian path and, for type I, the initial OU states).
        - `dt`: the step.
        - `args`: passed to the control (e.g. an interpolated context).
        - `solver`: `"euler"` (Itô) or `"heun"` (Stratonovich).
        - `prior`: sample the prior (no control, zero KL).
        - `y0`: the initial OU states `(K, L)`, instead of a draw.
        """
        key = check_key(key)
        check_choice("solver", solver, tuple(_SOLVERS), context="(Euler: Itô; Heun: Stratonovich)")
        dt = check_number("dt", dt, low=0.0, low_open=True)
        ts_np = np.asarray(ts, dtype=float)
        if ts_np.ndim != 1 or ts_np.size < 2 or np.any(np.diff(ts_np) <= 0):
            raise ValueError("`ts` must be a 1-D array of at least two increasing times")
        n_steps = (ts_np[-1] - ts_np[0]) / dt
        if abs(n_steps - round(n_steps)) > 1e-6 * max(1.0, n_steps):
            raise ValueError(f"`dt`={dt:g} must divide the time span {ts_np[-1] - ts_np[0]:g} of `ts`")
        n_steps = int(round(n_steps))
        g = self.gammas.array
        if not isinstance(g, jax.core.Tracer) and float(np.max(np.asarray(g))) * dt >= 0.5:
            raise ValueError(
                f"`dt`={dt:g} is too large for the fastest OU speed {float(np.max(np.asarray(g))):g}: "
                "explicit steps need gamma_max * dt < 1/2"
            )
        x0 = jnp.asarray(x0)
        if x0.shape != (self.dim,):
            raise ValueError(f"`x0` must have shape ({self.dim},), got {x0.shape}")
        dtype = jnp.result_type(x0.dtype, float)
        k_w, k_y = jax.random.split(key)
        if y0 is None:
            y0 = self.initial_states(k_y)
        y0 = jnp.asarray(y0, dtype)
        if y0.shape != (self.num_states, self.dim):
            raise ValueError(f"`y0` must have shape ({self.num_states}, {self.dim}), got {y0.shape}")
        dw = jax.random.normal(k_w, (n_steps, self.dim), dtype) * jnp.sqrt(jnp.asarray(dt, dtype))
        path = _GridBrownian(
            t0=float(ts_np[0]), t1=float(ts_np[-1]), dt=dt,
            values=jnp.concatenate([jnp.zeros((1, self.dim), dtype), jnp.cumsum(dw, axis=0)]),
        )  # fmt: skip
        return self._solve(
            jnp.asarray(ts_np, dtype), x0.astype(dtype), y0, path, dt, n_steps, args, solver, prior
        )

    def _solve(self, ts, x0, y0, path, dt, n_steps, args, solver, prior):
        dim, k = self.dim, self.num_states
        g = self.gammas.value.astype(x0.dtype)
        omega = self.omega.astype(x0.dtype)
        use_control = self.control is not None and not prior

        def unpack(z):
            return z[:dim], z[dim : dim + k * dim].reshape(k, dim)

        def drift(t, z, args):
            x, y = unpack(z)
            u = self.control(t, x, y, args) if use_control else jnp.zeros_like(x)
            dy = -g[:, None] * y + u[None, :]
            dx = self.drift(t, x) + self.diffusion(t, x) * (omega @ dy)
            return jnp.concatenate([dx, dy.ravel(), 0.5 * jnp.sum(u * u, keepdims=True)])

        eye = jnp.eye(dim, dtype=x0.dtype)

        def noise(t, z, args):
            x, _ = unpack(z)
            sx = jnp.diag(self.diffusion(t, x) * jnp.sum(omega))
            return jnp.concatenate([sx, jnp.tile(eye, (k, 1)), jnp.zeros((1, dim), x0.dtype)])

        terms = diffrax.MultiTerm(diffrax.ODETerm(drift), diffrax.ControlTerm(noise, path))
        z0 = jnp.concatenate([x0, y0.ravel(), jnp.zeros((1,), x0.dtype)])
        sol = diffrax.diffeqsolve(
            terms, diffrax.Euler() if solver == "euler" else diffrax.Heun(), ts[0], ts[-1], dt, z0,
            args=args, saveat=diffrax.SaveAt(ts=ts), stepsize_controller=diffrax.ConstantStepSize(),
            max_steps=n_steps + 1,
        )  # fmt: skip
        zs = sol.ys
        return SDESolution(
            ts=ts, xs=zs[:, :dim], ys=zs[:, dim : dim + k * dim].reshape(-1, k, dim), kl=zs[:, -1]
        )
