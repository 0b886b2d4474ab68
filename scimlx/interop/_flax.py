"""Flax adapters: any scimlx operator or point model as a Flax NNX module or a Linen module.

The adapters hold the Equinox model's arrays as Flax variables and call the Equinox model itself, so outputs
and gradients are the Equinox model's, bit for bit. Trainable arrays (see [`scimlx.train.trainable`][]) become
`nnx.Param` (Linen's `"params"`), arrays the model holds but does not train ([`scimlx.train.Fixed`][] ones,
the initial values of `eqx.nn.StateIndex`) become [`Constant`][scimlx.interop.Constant] (Linen's
`"constants"`), and an operator's BatchNorm running statistics become `nnx.BatchStat` (Linen's
`"batch_stats"`). Every variable is named by its path in the Equinox model (`lift.weight`, `layers[0].bias`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import flax.linen as linen
import jax
from flax import nnx
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.operators._common import apply_batch
from scimlx.pinn._models import PointModel, map_points
from scimlx.train import trainable_mask

__all__ = [
    "Constant",
    "LinenOperator",
    "LinenPointModel",
    "NNXOperator",
    "NNXPointModel",
    "to_linen",
    "to_nnx",
]


class Constant(nnx.Variable):
    """An array an adapted model holds but does not train (no `nnx.grad` and no optimiser sees it)."""


def _name(path) -> str:
    return jax.tree_util.keystr(path, simple=True, separator=".")


def _names(paths) -> tuple[str, ...]:
    names = tuple(_name(p) for p in paths)
    # `simple` key strings drop brackets; keep indices readable and unique: `layers.0.weight`
    if len(set(names)) != len(names):  # pragma: no cover - distinct paths give distinct names
        names = tuple(jax.tree_util.keystr(p) for p in paths)
    return names


@dataclasses.dataclass(frozen=True, eq=False)
class _Layout:
    """How an Equinox model splits into named trainable arrays, named constant arrays and the static rest.

    Hashed by identity (Linen keeps it as a module field); it holds the initial arrays for Linen's `init`.
    """

    param_names: tuple[str, ...]
    param_def: Any
    const_names: tuple[str, ...]
    const_slots: tuple[int, ...]
    rest_def: Any
    rest_leaves: tuple[Any, ...]  # `None` where a constant goes
    init_params: tuple[Array, ...]
    init_consts: tuple[Array, ...]
    stat_names: tuple[str, ...] = ()
    state_def: Any = None  # `None`: no state
    init_stats: tuple[Array, ...] = ()

    @classmethod
    def of(cls, model: eqx.Module, state: eqx.nn.State | None = None) -> _Layout:
        params, rest = eqx.partition(model, trainable_mask(model))
        p_leaves, p_def = jax.tree_util.tree_flatten_with_path(params)
        r_leaves, r_def = jax.tree_util.tree_flatten_with_path(rest)
        slots = tuple(i for i, (_, v) in enumerate(r_leaves) if eqx.is_array(v))
        stats, state_def = ([], None) if state is None else jax.tree.flatten(state)
        return cls(
            param_names=_names([p for p, _ in p_leaves]),
            param_def=p_def,
            const_names=_names([r_leaves[i][0] for i in slots]),
            const_slots=slots,
            rest_def=r_def,
            rest_leaves=tuple(None if i in slots else v for i, (_, v) in enumerate(r_leaves)),
            init_params=tuple(v for _, v in p_leaves),
            init_consts=tuple(r_leaves[i][1] for i in slots),
            stat_names=tuple(f"stat{i:0{len(str(len(stats)))}d}" for i in range(len(stats))),
            state_def=state_def,
            init_stats=tuple(stats),
        )

    def build(self, params, consts) -> eqx.Module:
        """The Equinox model with these trainable and constant arrays (`param_names`, `const_names` order)."""
        rest = list(self.rest_leaves)
        for i, c in zip(self.const_slots, consts):
            rest[i] = c
        return eqx.combine(
            jax.tree.unflatten(self.param_def, list(params)), jax.tree.unflatten(self.rest_def, rest)
        )

    def build_state(self, stats) -> eqx.nn.State | None:
        """The operator's state with these statistics (in `stat_names` order), `None` if it has none."""
        return None if self.state_def is None else jax.tree.unflatten(self.state_def, list(stats))


def _check_operator(model, state) -> None:
    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[1], eqx.nn.State):
        raise TypeError("`model` is a (model, state) pair: pass them separately, `to_nnx(model, state)`")
    if not isinstance(model, eqx.Module) or not callable(model):
        raise TypeError(
            f"`model` must be a scimlx operator or point model (an eqx.Module), got {type(model).__name__}"
        )
    if state is not None and not isinstance(state, eqx.nn.State):
        raise TypeError(f"`state` must be an `eqx.nn.State` or None, got {type(state).__name__}")


def _call_operator(model, state, x, pde_params, use_running_average, key):
    return apply_batch(model, state, x, pde_params=pde_params, inference=use_running_average, key=key)


class NNXOperator(nnx.Module):
    """A scimlx neural operator as a Flax NNX module, called on a batch.

    `module(x)` is `apply_batch(model, state, x)`'s output `(B, C_out, *spatial)`; in training mode it updates
    the BatchNorm statistics held as `nnx.BatchStat`, and after `module.eval()` (which sets
    `use_running_average`) it uses them unchanged, as `apply_batch(..., inference=True)` does.

    **Arguments:**

    - `model`: the operator (an `eqx.Module` following [`scimlx.operators`][]' conventions).
    - `state`: its `eqx.nn.State` from `eqx.nn.make_with_state`, or `None` for a stateless operator.
    """

    def __init__(self, model: eqx.Module, state: eqx.nn.State | None = None):
        _check_operator(model, state)
        if isinstance(model, PointModel):
            raise TypeError("`model` is a point model: adapt it with `NNXPointModel` (or `to_nnx`)")
        layout = _Layout.of(model, state)
        self.layout = nnx.static(layout)
        self.params = nnx.Dict({n: nnx.Param(v) for n, v in zip(layout.param_names, layout.init_params)})
        self.constants = nnx.Dict({n: Constant(v) for n, v in zip(layout.const_names, layout.init_consts)})
        self.batch_stats = nnx.Dict(
            {n: nnx.BatchStat(v) for n, v in zip(layout.stat_names, layout.init_stats)}
        )
        self.use_running_average = False

    def to_equinox(self) -> tuple[eqx.Module, eqx.nn.State | None]:
        """The Equinox operator and state with this module's current arrays."""
        model = self.layout.build(
            [self.params[n][...] for n in self.layout.param_names],
            [self.constants[n][...] for n in self.layout.const_names],
        )
        return model, self.layout.build_state([self.batch_stats[n][...] for n in self.layout.stat_names])

    def __call__(
        self,
        x: Float[Array, "batch c *spatial"],  # noqa: F821
        *,
        pde_params: Float[Array, "batch p"] | None = None,  # noqa: F821
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, "batch c_out *spatial"]:  # noqa: F821
        """**Arguments:** `x`, a batch `(B, C_in, *spatial)`; `pde_params`, `(B, P)` for a conditioned
        operator (CAPE); `key`, for stochastic layers."""
        model, state = self.to_equinox()
        y, new_state = _call_operator(model, state, x, pde_params, self.use_running_average, key)
        if new_state is not None and not self.use_running_average:
            for n, v in zip(self.layout.stat_names, jax.tree.leaves(new_state)):
                self.batch_stats[n][...] = v
        return y


class NNXPointModel(nnx.Module):
    """A scimlx point model ([`scimlx.pinn.PINN`][], [`scimlx.pinn.PIG`][]) as a Flax NNX module.

    `module(z)` is the model's scalar at one point `z`; `module.predict(points)` evaluates many.

    **Arguments:**

    - `model`: the point model.
    """

    def __init__(self, model: PointModel):
        _check_operator(model, None)
        if not isinstance(model, PointModel):
            raise TypeError(
                f"`model` must be a scimlx point model (PINN, PIG), got {type(model).__name__}: "
                "adapt an operator with `NNXOperator`"
            )
        layout = _Layout.of(model)
        self.layout = nnx.static(layout)
        self.params = nnx.Dict({n: nnx.Param(v) for n, v in zip(layout.param_names, layout.init_params)})
        self.constants = nnx.Dict({n: Constant(v) for n, v in zip(layout.const_names, layout.init_consts)})

    def to_equinox(self) -> PointModel:
        """The Equinox point model with this module's current arrays."""
        return self.layout.build(
            [self.params[n][...] for n in self.layout.param_names],
            [self.constants[n][...] for n in self.layout.const_names],
        )

    def __call__(self, z: Float[Array, " d"]) -> Float[Array, ""]:
        return self.to_equinox()(z)

    def predict(self, points: Float[Array, "n d"], chunk_size: int | None = None) -> Float[Array, " n"]:
        """The model at every row of `points` (see [`scimlx.pinn.map_points`][])."""
        return map_points(self.to_equinox(), points, chunk_size)


def to_nnx(model: eqx.Module, state: eqx.nn.State | None = None) -> NNXOperator | NNXPointModel:
    """A scimlx model as a Flax NNX module: [`NNXPointModel`][scimlx.interop.NNXPointModel] for a point model,
    [`NNXOperator`][scimlx.interop.NNXOperator] for an operator (with its `state`, if it has one)."""
    if isinstance(model, PointModel):
        if state is not None:
            raise ValueError("`state` given, but a point model has none")
        return NNXPointModel(model)
    return NNXOperator(model, state)


def _linen_arrays(module: linen.Module, layout: _Layout):
    params = [module.param(n, lambda _, v=v: v) for n, v in zip(layout.param_names, layout.init_params)]
    consts = [
        module.variable("constants", n, lambda v=v: v).value
        for n, v in zip(layout.const_names, layout.init_consts)
    ]
    return layout.build(params, consts)


class LinenOperator(linen.Module):
    """A scimlx neural operator as a Flax Linen module, called on a batch; build it with
    [`to_linen`][scimlx.interop.to_linen], which also returns its variables.

    `module.apply(variables, x, mutable=["batch_stats"])` trains with the batch's statistics and returns the
    updated ones; `use_running_average=True` uses the stored statistics.

    **Arguments:**

    - `layout`: the operator's arrays, state and structure (made by `to_linen`).
    """

    layout: _Layout

    @linen.compact
    def __call__(self, x, *, pde_params=None, use_running_average: bool = False, key=None):
        layout = self.layout
        model = _linen_arrays(self, layout)
        if layout.state_def is None:
            return _call_operator(model, None, x, pde_params, use_running_average, key)[0]
        stats = [
            self.variable("batch_stats", n, lambda v=v: v)
            for n, v in zip(layout.stat_names, layout.init_stats)
        ]
        state = layout.build_state([s.value for s in stats])
        y, new_state = _call_operator(model, state, x, pde_params, use_running_average, key)
        if not use_running_average and self.is_mutable_collection("batch_stats"):
            for s, v in zip(stats, jax.tree.leaves(new_state)):
                s.value = v
        return y


class LinenPointModel(linen.Module):
    """A scimlx point model as a Flax Linen module (one point in, a scalar out); build it with
    [`to_linen`][scimlx.interop.to_linen].

    **Arguments:**

    - `layout`: the model's arrays and structure (made by `to_linen`).
    """

    layout: _Layout

    @linen.compact
    def __call__(self, z):
        return _linen_arrays(self, self.layout)(z)


def to_linen(
    model: eqx.Module, state: eqx.nn.State | None = None
) -> tuple[LinenOperator | LinenPointModel, dict[str, Any]]:
    """A scimlx model as a Flax Linen module and its variables (`{"params": ..., "constants": ...[,
    "batch_stats": ...]}`), holding the Equinox model's arrays; `module.apply(variables, ...)` is the model.

    `module.init(key, x)` gives the same variables (the Equinox model's arrays, not fresh ones)."""
    _check_operator(model, state)
    if isinstance(model, PointModel) and state is not None:
        raise ValueError("`state` given, but a point model has none")
    layout = _Layout.of(model, state)
    variables: dict[str, Any] = {"params": dict(zip(layout.param_names, layout.init_params))}
    if layout.const_names:
        variables["constants"] = dict(zip(layout.const_names, layout.init_consts))
    if isinstance(model, PointModel):
        return LinenPointModel(layout), variables
    if layout.stat_names:
        variables["batch_stats"] = dict(zip(layout.stat_names, layout.init_stats))
    return LinenOperator(layout), variables
