"""The step that [`scimlx.train.fit`][] compiles: one loss and one optimiser
([`scimlx.train.GradientStep`][]), several parameter groups each with its own loss and optimiser
([`scimlx.train.GameStep`][], e.g. a min-max game), or any [`scimlx.train.AbstractTrainStep`][] of a
user's."""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, PRNGKeyArray, PyTree

from ._params import _is_excluded, trainable, trainable_mask

__all__ = ["AbstractTrainStep", "GameStep", "GradientStep", "Player", "TrainCarry"]


class TrainCarry(eqx.Module):
    """What a training step carries from one step to the next.

    **Arguments:**

    - `model`: the model (all parameter groups).
    - `opt_state`: the optimiser state(s), as the step's `init` made them.
    - `state`: the model's state (`eqx.nn.State` of BatchNorm statistics), a sampler's state, or `None`.
    - `step`: the 0-based index of the step being taken, a traced integer that [`scimlx.train.fit`][] sets
        before each step (so a step may depend on it without recompiling); `None` between steps.
    """

    model: PyTree
    opt_state: PyTree
    state: PyTree
    step: Array | None = None


class AbstractTrainStep(eqx.Module):
    """One training step, compiled by [`scimlx.train.fit`][], which keeps the loop, the batches, the
    evaluations, the checkpoints and the progress bar for it.

    Subclasses implement `init(model) -> opt_state` and
    `__call__(carry, batch, *, key) -> (carry, loss, aux)`: `carry` a [`TrainCarry`][scimlx.train.TrainCarry],
    `loss` the real scalar that the progress bar shows and the non-finite guard checks, `aux` a dict of named
    scalars logged every step.
    """

    @abc.abstractmethod
    def init(self, model: PyTree) -> PyTree:
        """The optimiser state(s) for `model`."""

    @abc.abstractmethod
    def __call__(
        self, carry: TrainCarry, batch: PyTree, *, key: PRNGKeyArray
    ) -> tuple[TrainCarry, Array, dict[str, Array]]:
        """One step: the new carry, the loss and the aux scalars."""

    def optimizers(self, model: PyTree, opt_state: PyTree) -> dict[str, tuple[Any, PyTree, PyTree]]:
        """The step's optax optimisers by name, each with the parameters of `model` it updates and its part of
        `opt_state`: what a checkpoint records (a fingerprint of each) so that a run is never resumed with
        another optimiser. None by default: a step of a user's is recognised by its type and `fit`'s `config`.
        """
        return {}


def unpack_loss(out: Any, stateful: bool, has_aux: bool, name: str = "loss_fn") -> tuple[Array, Any, dict]:
    """Check and split what a loss function returned into `(loss, new_state, aux)`."""
    if stateful:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(
                f"With `state`, `{name}(model, state, batch, *, key)` must return "
                "`(loss, new_state)` (or `(loss, (new_state, aux))` with `has_aux=True`)."
            )
        loss, rest = out
        if has_aux:
            if not (isinstance(rest, tuple) and len(rest) == 2):
                raise TypeError(
                    f"With `state` and `has_aux=True`, `{name}` must return `(loss, (new_state, aux))`."
                )
            new_state, aux = rest
        else:
            new_state, aux = rest, {}
    elif has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"With `has_aux=True`, `{name}` must return `(loss, aux)`.")
        loss, aux = out
        new_state = None
    else:
        if isinstance(out, tuple):
            raise TypeError(
                f"`{name}` returned a tuple; return a scalar loss, or pass `has_aux=True` to "
                "return `(loss, aux)`."
            )
        loss, aux, new_state = out, {}, None
    loss = jnp.asarray(loss)
    if loss.shape != () or not jnp.issubdtype(loss.dtype, jnp.floating):
        hint = "" if has_aux else " (if it returns `(loss, aux)`, pass `has_aux=True`)"
        raise TypeError(
            f"`{name}` must return a real scalar loss, got shape {loss.shape} and dtype {loss.dtype}{hint}."
        )
    if not isinstance(aux, Mapping) or not all(isinstance(k, str) for k in aux):
        raise TypeError(
            f"With `has_aux=True`, the aux output of `{name}` must be a dict of named scalars, "
            f"got {type(aux)}."
        )
    aux = {k: jnp.asarray(v) for k, v in aux.items()}
    for k, v in aux.items():
        if v.shape != ():
            raise TypeError(f"`{name}` aux entry {k!r} must be a scalar, got shape {v.shape}.")
    return loss, new_state, aux


def _descend(
    loss_fn: Callable,
    optimizer: optax.GradientTransformationExtraArgs,
    mask: PyTree[bool],
    model: PyTree,
    opt_state: PyTree,
    state: PyTree,
    batch: PyTree,
    key: PRNGKeyArray,
    stateful: bool,
    has_aux: bool,
    name: str,
) -> tuple[PyTree, PyTree, PyTree, Array, dict]:
    """One optimiser update of the arrays of `model` selected by `mask`, the rest held fixed."""
    params, static = eqx.partition(model, mask)

    def objective(p):
        m = eqx.combine(p, static)
        out = loss_fn(m, state, batch, key=key) if stateful else loss_fn(m, batch, key=key)
        loss, new_state, aux = unpack_loss(out, stateful, has_aux, name)
        return loss, (new_state, aux)

    (loss, (new_state, aux)), grads = eqx.filter_value_and_grad(objective, has_aux=True)(params)
    updates, opt_state = optimizer.update(
        grads, opt_state, params, value=loss, grad=grads, value_fn=lambda p: objective(p)[0]
    )
    return eqx.apply_updates(model, updates), opt_state, new_state, loss, aux


def _check_optimizer(name: str, optimizer: Any) -> optax.GradientTransformationExtraArgs:
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"`{name}` must be an `optax.GradientTransformation`, got {type(optimizer)}.")
    return optax.with_extra_args_support(optimizer)


class GradientStep(AbstractTrainStep):
    """One loss, one optimiser, every trainable array: the step `fit(model, loss_fn, data, optimizer)` runs.

    The loss and its gradient come from `eqx.filter_value_and_grad` over the trainable arrays
    ([`scimlx.train.trainable`][]); the optimiser (wrapped with `optax.with_extra_args_support`) also gets
    `value`, `grad` and `value_fn`, so line-search optimisers such as [`scimlx.train.lbfgs`][] work.

    **Arguments:**

    - `loss_fn`: `loss_fn(model, batch, *, key) -> loss` (or `(loss, aux)` with `has_aux`); with
        `stateful`, `loss_fn(model, state, batch, *, key) -> (loss, new_state)` (or
        `(loss, (new_state, aux))`).
    - `optimizer`: an `optax.GradientTransformation`.
    - `has_aux`: whether `loss_fn` also returns a dict of named scalars.
    - `stateful`: whether `loss_fn` takes and returns a state.
    - `with_step`: pass the 0-based step index to the loss as the keyword `step` (a traced integer:
        curricula and loss schedules that change with the epoch compile once).
    """

    loss_fn: Callable
    optimizer: optax.GradientTransformationExtraArgs
    has_aux: bool = eqx.field(static=True, default=False)
    stateful: bool = eqx.field(static=True, default=False)
    with_step: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if not callable(self.loss_fn):
            raise TypeError(f"`loss_fn` must be callable, got {type(self.loss_fn)}.")
        _check_optimizer("optimizer", self.optimizer)

    def init(self, model):
        return self.optimizer.init(eqx.filter(model, trainable_mask(model)))

    def optimizers(self, model, opt_state):
        return {"optimizer": (self.optimizer, trainable(model), opt_state)}

    def __call__(self, carry, batch, *, key):
        opt = optax.with_extra_args_support(self.optimizer)
        loss_fn = self.loss_fn
        if self.with_step:
            if carry.step is None:
                raise ValueError("`with_step=True` needs the step index: run the step through `fit`")
            loss_fn = functools.partial(loss_fn, step=carry.step)
        model, opt_state, state, loss, aux = _descend(
            loss_fn, opt, trainable_mask(carry.model), carry.model, carry.opt_state, carry.state,
            batch, key, self.stateful, self.has_aux, "loss_fn",
        )  # fmt: skip
        return TrainCarry(model, opt_state, state), loss, aux


class Player(eqx.Module):
    """One parameter group of a [`GameStep`][scimlx.train.GameStep]: the arrays it owns, the loss it
    minimises over them, and its optimiser.

    **Arguments:**

    - `name`: names its logged loss (`"<name>_loss"`) and aux entries.
    - `where`: selects the group from the model, as in `eqx.tree_at` (e.g. `lambda m: m.flow`); the
        group's trainable arrays are its parameters.
    - `loss_fn`: the loss this player minimises, with `fit`'s signature (`loss_fn(model, batch, *, key)`,
        or with the state: `loss_fn(model, state, batch, *, key) -> (loss, new_state)`). A player that
        maximises an objective minimises its negative.
    - `optimizer`: its own `optax.GradientTransformation`.
    - `steps`: updates of this player per training step (default 1).
    - `has_aux`: whether `loss_fn` also returns a dict of named scalars.
    """

    name: str = eqx.field(static=True)
    where: Callable = eqx.field(static=True)
    loss_fn: Callable
    optimizer: optax.GradientTransformationExtraArgs
    steps: int = eqx.field(static=True, default=1)
    has_aux: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"`name` must be a non-empty string, got {self.name!r}.")
        if not callable(self.where):
            raise TypeError(f"`where` of player {self.name!r} must be callable, got {type(self.where)}.")
        if not callable(self.loss_fn):
            raise TypeError(f"`loss_fn` of player {self.name!r} must be callable, got {type(self.loss_fn)}.")
        _check_optimizer(f"optimizer` of player `{self.name}", self.optimizer)
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"`steps` of player {self.name!r} must be an integer >= 1, got {self.steps!r}.")

    def mask(self, model: PyTree) -> PyTree[bool]:
        """The filter spec of this player's trainable arrays in `model`."""
        nothing = jax.tree.map(lambda _: False, model, is_leaf=_is_excluded)
        try:
            return eqx.tree_at(self.where, nothing, replace=trainable_mask(self.where(model)))
        except Exception as e:
            raise ValueError(f"`where` of player {self.name!r} does not select part of the model: {e}") from e


class GameStep(AbstractTrainStep):
    """Several parameter groups, each minimising its own loss with its own optimiser: min-max games
    (adversarial sampling: a solution network against a sampler), alternating or simultaneous updates.

    With `simultaneous=False` (default) the players move in turn, each seeing the others' latest
    parameters (Gauss-Seidel, alternating gradient descent-ascent); with `True` every gradient is taken at the
    same point before any update (Jacobi). Each player makes `steps` updates per training step. The step's
    loss (shown, and checked for non-finite values) is the first player's; every player's loss is logged as
    `"<name>_loss"`, and its aux entries as `"<name>/<entry>"`. The optimiser state is a tuple, one per
    player.

    **Arguments:**

    - `players`: a sequence of [`Player`][scimlx.train.Player]s with distinct names and disjoint parameters.
    - `simultaneous`: Jacobi instead of Gauss-Seidel updates.
    - `stateful`: whether the losses take and return a state (`fit(..., state=...)`): a model's or a
        sampler's.
    """

    players: tuple[Player, ...]
    simultaneous: bool = eqx.field(static=True, default=False)
    stateful: bool = eqx.field(static=True, default=False)

    def __init__(self, players: Sequence[Player], *, simultaneous: bool = False, stateful: bool = False):
        players = tuple(players)
        if not players or not all(isinstance(p, Player) for p in players):
            raise TypeError("`players` must be a non-empty sequence of scimlx.train.Player.")
        names = [p.name for p in players]
        if len(set(names)) != len(names):
            raise ValueError(f"Player names must be distinct, got {names}.")
        self.players = players
        self.simultaneous = bool(simultaneous)
        self.stateful = bool(stateful)

    def init(self, model):
        masks = [p.mask(model) for p in self.players]
        counts = jax.tree.map(lambda *m: sum(map(bool, m)), *masks)
        if any(c > 1 for c in jax.tree.leaves(counts)):
            raise ValueError("The players' parameter groups overlap: each array must belong to one player.")
        return tuple(p.optimizer.init(eqx.filter(model, m)) for p, m in zip(self.players, masks))

    def optimizers(self, model, opt_state):
        return {
            p.name: (p.optimizer, eqx.filter(model, p.mask(model)), opt_state[i])
            for i, p in enumerate(self.players)
        }

    def __call__(self, carry, batch, *, key):
        keys = jax.random.split(key, len(self.players))
        model, state, opt_states, aux, first = carry.model, carry.state, list(carry.opt_state), {}, None
        frozen = model
        for i, (player, k) in enumerate(zip(self.players, keys)):
            opt = optax.with_extra_args_support(player.optimizer)
            start = frozen if self.simultaneous else model
            mask = player.mask(start)
            moved = start
            for j in range(player.steps):
                moved, opt_states[i], new_state, loss, extra = _descend(
                    player.loss_fn, opt, mask, moved, opt_states[i], state, batch,
                    jax.random.fold_in(k, j), self.stateful, player.has_aux, f"{player.name}.loss_fn",
                )  # fmt: skip
                if self.stateful:
                    state = new_state
            # this player's arrays from `moved`, the others' from the current model
            model = eqx.combine(eqx.filter(moved, mask), eqx.filter(model, mask, inverse=True))
            aux[f"{player.name}_loss"] = loss
            aux.update({f"{player.name}/{name}": v for name, v in extra.items()})
            first = loss if first is None else first
        return TrainCarry(model, tuple(opt_states), state), first, aux
