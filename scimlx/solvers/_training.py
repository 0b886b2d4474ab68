"""Training a DCDM network on one system with the shared loop `scimlx.train.fit`."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.linalg import as_operator
from scimlx.core.validate import check_int, check_key, check_number
from scimlx.train import FitResult, Recipe, RunOptions, fit

from ._dcdm import dcdm_loss


@dataclasses.dataclass(frozen=True)
class DCDMConfig(Recipe):
    """The DCDM training recipe (defaults: the reference's): Adam at a fixed learning rate on the
    unsupervised loss [`dcdm_loss`][scimlx.solvers.dcdm_loss].

    **Arguments:**

    - `epochs`: passes over the right-hand sides (1000, the reference's limit); a run's `epochs` or `steps`
        overrides it.
    - `batch_size`: right-hand sides per step (10; at most the number given); a run's overrides it.
    - `learning_rate`: Adam's (1e-4).
    """

    epochs: int = 1000
    batch_size: int = 10
    learning_rate: float = 1e-4

    def __post_init__(self):
        check_int("epochs", self.epochs)
        check_int("batch_size", self.batch_size)
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)

    def run_defaults(self) -> dict:
        return {"epochs": self.epochs, "batch_size": self.batch_size}

    def make_optimizer(self) -> optax.GradientTransformation:
        """Adam at `learning_rate`."""
        return optax.adam(self.learning_rate)


def train_dcdm(
    A: Any,
    model,
    rhs: Float[Array, "..."],
    *,
    key: PRNGKeyArray,
    config: DCDMConfig = DCDMConfig(),
    run: RunOptions = RunOptions(),
) -> FitResult:
    """Train a DCDM network on right-hand sides of one system with the unsupervised loss
    [`dcdm_loss`][scimlx.solvers.dcdm_loss] through [`scimlx.train.fit`][].

    **Arguments:**

    - `A`: the training system's operator.
    - `model`: a [`DCDMNet`][scimlx.solvers.DCDMNet] (or any Equinox module of one channels-first grid
        sample).
    - `rhs`: training right-hand sides `(n, *shape)`, e.g. [`ritz_rhs`][scimlx.solvers.ritz_rhs].
    - `key`: a PRNG key (shuffling).
    - `config`: the recipe, a [`DCDMConfig`][scimlx.solvers.DCDMConfig].
    - `run`: the [`scimlx.train.RunOptions`][] (length and batch size default to the recipe's; the batch
        is capped at the number of right-hand sides): checkpoints, resume, progress, devices.

    **Returns:** the [`FitResult`][scimlx.train.FitResult].
    """
    op = as_operator(A)
    key = check_key(key)
    if rhs.ndim != len(op.shape) + 1 or tuple(rhs.shape[1:]) != op.shape:
        raise ValueError(f"`rhs` must have shape (n, *{op.shape}), got {rhs.shape}")
    if not isinstance(config, DCDMConfig):
        raise TypeError(f"`config` must be a DCDMConfig, got {type(config).__name__}")
    if not isinstance(run, RunOptions):
        raise TypeError(f"`run` must be a scimlx.train.RunOptions, got {type(run).__name__}")
    run = run.with_defaults(epochs=config.epochs, batch_size=min(config.batch_size, rhs.shape[0]))

    def loss_fn(m, batch, *, key):
        del key
        return dcdm_loss(op, m, batch)

    return fit(
        model, loss_fn, jax.numpy.asarray(rhs), config.make_optimizer(), key=key, run=run,
        config={**config.as_config(), "n_rhs": int(rhs.shape[0])},
    )  # fmt: skip
