"""A physics-informed problem: an equation of the core catalogue on a (space-time) box, its conditions, the
loss weights, and the solution to test against."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core import Box, Grid, PointField, sample_interior
from scimlx.core.equations import Equation
from scimlx.core.validate import check_callable, check_choice, check_int, check_key, check_number

from ._conditions import Condition, check_condition, condition_points
from ._models import map_points

TestData = tuple[Float[Array, "m d"], Float[Array, " m"]]


def _check_shape(name: str, shape, ndim: int) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),) * ndim
    try:
        out = tuple(shape)
    except TypeError as e:
        raise TypeError(f"`{name}` must be an int or a sequence of ints, got {shape!r}") from e
    if len(out) != ndim:
        raise ValueError(f"`{name}` must have {ndim} entries (one per axis, time last), got {out}")
    return tuple(check_int(f"{name}[{i}]", s, low=2) for i, s in enumerate(out))


class Problem(eqx.Module):
    """A physics-informed problem: residual, conditions, loss weights and a test set.

    The residual comes from `equation.residual(PointField(model, z, time=time))`, so every derivative is the
    core's autodiff. The loss is `residual_weight · mean(r²) + Σ_c weight_c · mean(c²)`, optionally with the
    causal weighting of Wang et al. (JAX-PI) on the residual term.

    **Arguments:**

    - `name`: a short name.
    - `equation`: an equation of the core's catalogue ([`scimlx.core.Equation`][]).
    - `box`: the domain; for a time-dependent problem a space-time box with time last.
    - `conditions`: boundary and initial conditions ([`Dirichlet`][scimlx.pinn.Dirichlet],
        [`Neumann`][scimlx.pinn.Neumann], [`Periodic`][scimlx.pinn.Periodic],
        [`InitialValue`][scimlx.pinn.InitialValue], [`InitialVelocity`][scimlx.pinn.InitialVelocity]).
    - `exact`: the exact solution as a function of one point, if known.
    - `reference`: otherwise a function `() -> (points, values)` giving a numerical reference (called once per
        evaluation set-up; cache it in the builder).
    - `test_shape`: with `exact`, the uniform test grid (points per axis, time last).
    - `residual_weight`: weight of the residual term; default 1.
    - `n_collocation`: residual points drawn per resample; default 4096.
    - `description`: one line for tables.
    """

    name: str = eqx.field(static=True)
    equation: Equation
    box: Box = eqx.field(static=True)
    conditions: tuple[Condition, ...]
    exact: Callable[[Array], Array] | None = eqx.field(static=True)
    reference: Callable[[], TestData] | None = eqx.field(static=True)
    test_shape: tuple[int, ...] | None = eqx.field(static=True)
    residual_weight: float = eqx.field(static=True)
    n_collocation: int = eqx.field(static=True)
    description: str = eqx.field(static=True)

    def __init__(
        self,
        name: str,
        equation: Equation,
        box: Box,
        conditions: Sequence[Condition] = (),
        *,
        exact: Callable[[Array], Array] | None = None,
        reference: Callable[[], TestData] | None = None,
        test_shape: int | Sequence[int] | None = None,
        residual_weight: float = 1.0,
        n_collocation: int = 4096,
        description: str = "",
    ):
        if not isinstance(name, str) or not name:
            raise TypeError(f"`name` must be a non-empty string, got {name!r}")
        if not isinstance(equation, Equation):
            raise TypeError(f"`equation` must be an equation of scimlx.core.equations, got {equation!r}")
        if not isinstance(box, Box):
            raise TypeError(f"`box` must be a scimlx Box, got {type(box).__name__}")
        time = type(equation).time_dependent
        n_space = box.ndim - int(time)
        if n_space < 1:
            raise ValueError(
                f"`box` has {box.ndim} dimension(s); the time-dependent {type(equation).__name__} needs at "
                "least one spatial axis plus time (time last)"
            )
        dims = type(equation).spatial_dims
        if dims is not None and n_space not in dims:
            raise ValueError(
                f"`box` has {n_space} spatial dimension(s); {type(equation).__name__} is defined in {dims}"
            )
        if isinstance(conditions, Condition):
            conditions = (conditions,)
        try:
            conditions = tuple(conditions)
        except TypeError as e:
            raise TypeError(
                f"`conditions` must be a sequence of scimlx.pinn conditions, got {type(conditions).__name__}"
            ) from e
        for c in conditions:
            if not isinstance(c, Condition):
                raise TypeError(f"`conditions` must hold scimlx.pinn conditions, got {c!r}")
            check_condition(c, box, time)
        if exact is None and reference is None:
            raise ValueError("give `exact` (a function of the point) or `reference` (a test-set function)")
        check_callable("exact", exact, "a function of one point", optional=True)
        check_callable("reference", reference, "a function returning (points, values)", optional=True)
        if exact is not None and reference is None:
            if test_shape is None:
                raise ValueError("`test_shape` is needed to test against `exact`")
            test_shape = _check_shape("test_shape", test_shape, box.ndim)
        elif test_shape is not None:
            test_shape = _check_shape("test_shape", test_shape, box.ndim)
        self.name, self.equation, self.box, self.conditions = name, equation, box, conditions
        self.exact, self.reference, self.test_shape = exact, reference, test_shape
        self.residual_weight = check_number("residual_weight", residual_weight, low=0)
        self.n_collocation = check_int("n_collocation", n_collocation)
        self.description = str(description)

    # ------------------------------------------------------------------------------------------------
    @property
    def time(self) -> bool:
        """Whether the last coordinate is time."""
        return type(self.equation).time_dependent

    @property
    def ndim(self) -> int:
        """Coordinates per point (space, then time)."""
        return self.box.ndim

    def field(self, fn: Callable[[Array], Array], z: Float[Array, " d"]) -> PointField:
        """The [`PointField`][scimlx.core.PointField] of `fn` at `z`."""
        return PointField(fn, z, time=self.time)

    def residual(self, fn: Callable[[Array], Array], z: Float[Array, " d"]) -> Array:
        """The equation's residual of `fn` at one point."""
        return self.equation.residual(self.field(fn, z))

    def sample(
        self, n_collocation: int | None = None, *, key: PRNGKeyArray, dtype=None
    ) -> dict[str, object]:
        """Draw residual points (uniform in the box) and every condition's points.

        **Arguments:**

        - `n_collocation`: residual points to draw; default the problem's `n_collocation`.
        - `key`: a JAX PRNG key (keyword-only).
        - `dtype`: the floating dtype of the points.

        **Returns:** `{"residual": (n, d), "conditions": (dict, ...)}`, traceable (usable inside `jax.jit`).
        """
        n = self.n_collocation if n_collocation is None else check_int("n_collocation", n_collocation)
        keys = jax.random.split(check_key(key), len(self.conditions) + 1)
        pts = sample_interior(self.box, n, key=keys[0], dtype=dtype)
        conds = tuple(
            c.sample(self.box, self.time, key=k, dtype=dtype) for c, k in zip(self.conditions, keys[1:])
        )
        return {"residual": pts, "conditions": conds}

    def loss(
        self,
        fn: Callable[[Array], Array],
        batch: dict[str, object],
        *,
        chunk_size: int | None = None,
        causal_tol: float | None = None,
        causal_chunks: int = 32,
    ) -> tuple[Array, dict[str, Array]]:
        """The weighted physics-informed loss and its terms.

        **Arguments:**

        - `fn`: the model, a function of one point.
        - `batch`: from [`Problem.sample`][scimlx.pinn.Problem.sample]; an optional entry `"weights"` `(n,)`
            (non-negative, not all zero) makes the residual term the weighted mean `Σ wᵢrᵢ² / Σ wᵢ` (a
            point set that grows inside a fixed-size buffer marks its unused rows with weight 0).
        - `chunk_size`: evaluate the residual `chunk_size` points at a time (see
            [`map_points`][scimlx.pinn.map_points]).
        - `causal_tol`: if given, the residual term is JAX-PI's causal loss: the points sorted by time are cut
            into `causal_chunks` equal groups with mean squares `l_i`, weighted by
            `w_i = exp(-causal_tol Σ_{j<i} l_j)` (no gradient through `w`), and averaged.
        - `causal_chunks`: the number of time groups; must divide the number of residual points.

        **Returns:** `(loss, terms)`, `terms` holding each unweighted mean square (and the smallest causal
        weight).
        """
        pts = batch["residual"]
        res = map_points(lambda z: self.residual(fn, z), pts, chunk_size)
        terms: dict[str, Array] = {}
        if causal_tol is not None:
            if not self.time:
                raise ValueError("`causal_tol` needs a time-dependent problem")
            if batch.get("weights") is not None:
                raise ValueError("`causal_tol` and per-point `weights` cannot be combined")
            n = pts.shape[0]
            if n % causal_chunks:
                raise ValueError(
                    f"`causal_chunks`={causal_chunks} must divide the number of residual points ({n})"
                )
            order = jnp.argsort(pts[:, -1])
            chunks = jnp.mean(res[order].reshape(causal_chunks, -1) ** 2, axis=1)
            prior = jnp.concatenate([jnp.zeros(1, chunks.dtype), jnp.cumsum(chunks)[:-1]])
            w = jax.lax.stop_gradient(jnp.exp(-causal_tol * prior))
            res_term = jnp.mean(w * chunks)
            terms["residual"] = jnp.mean(chunks)
            terms["causal_min_weight"] = jnp.min(w)
        elif batch.get("weights") is not None:
            w = jnp.asarray(batch["weights"], res.dtype)
            if w.shape != res.shape:
                raise ValueError(
                    f"`weights` must have one entry per residual point, {res.shape}; got {w.shape}"
                )
            res_term = jnp.sum(w * res**2) / jnp.sum(w)
            terms["residual"] = res_term
        else:
            res_term = jnp.mean(res**2)
            terms["residual"] = res_term
        total = self.residual_weight * res_term
        for i, (c, rows) in enumerate(zip(self.conditions, batch["conditions"])):
            r = jax.vmap(lambda row, c=c: c.residual(fn, row, self.time))(rows)
            mse = jnp.mean(r**2)
            terms[f"{i}:{type(c).__name__.lower()}"] = mse
            total = total + c.weight * mse
        return total, terms

    def test_data(self, dtype=None) -> TestData:
        """The test points `(m, d)` and the solution there `(m,)`: the exact solution on the uniform
        `test_shape` grid, or the reference (subsampled to `test_shape` if given)."""
        if self.reference is not None:
            pts, vals = self.reference()
            pts, vals = jnp.asarray(pts, dtype), jnp.asarray(vals, dtype)
            return pts, vals
        grid = Grid(self.test_shape, self.box)
        pts = grid.points(dtype)
        return pts, jax.vmap(self.exact)(pts)

    def error(self, fn: Callable[[Array], Array], *, chunk_size: int | None = None) -> Array:
        """The relative L2 error `‖u - u*‖ / ‖u*‖` of `fn` on the test set."""
        pts, vals = self.test_data()
        pred = map_points(fn, pts, chunk_size)
        return jnp.linalg.norm(pred - vals) / jnp.linalg.norm(vals)

    def points_per_sample(self, n_collocation: int | None = None) -> dict[str, int]:
        """How many points each term draws."""
        n = self.n_collocation if n_collocation is None else n_collocation
        out = {"residual": n}
        for i, c in enumerate(self.conditions):
            out[f"{i}:{type(c).__name__.lower()}"] = condition_points(c, self.box, self.time)
        return out


PRESETS = ("paper", "quick")


def preset_params(preset: str, paper: dict, quick: dict, given: dict) -> dict[str, Any]:
    """A problem builder's parameters: the preset's, updated by those given (unknown names refused)."""
    check_choice("preset", preset, PRESETS)
    out = dict(paper if preset == "paper" else quick)
    unknown = set(given) - set(out)
    if unknown:
        raise TypeError(f"unknown parameter(s) {sorted(unknown)}; known: {sorted(out)}")
    out.update({k: v for k, v in given.items() if v is not None})
    return out


def check_squarable(name: str, value: float, factor: float = 1.0) -> None:
    """Refuse a coefficient whose square (times a few) overflows the default float dtype: the source terms
    square it, and an infinite source makes every loss NaN."""
    dtype = jnp.result_type(float)
    limit = 0.25 * math.sqrt(float(jnp.finfo(dtype).max))
    if abs(value * factor) > limit:
        raise ValueError(
            f"`{name}` must be at most {limit / factor:.3g} in magnitude (its square enters the source term, "
            f"which must stay finite in {jnp.dtype(dtype).name}), got {value:g}"
        )


def subsample_indices(n: int, m: int) -> np.ndarray:
    """`m` indices spread evenly over `range(n)` (both ends kept), for subsampling a reference grid."""
    m = min(check_int("m", m, low=2), n)
    return np.unique(np.round(np.linspace(0, n - 1, m)).astype(int))

