"""Training a DCDM network on one system with the shared loop `scimlx.train.fit`."""

from __future__ import annotations

import os
from typing import Any

import jax
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.validate import check_int, check_key, check_number
from scimlx.core.linalg import as_operator
from scimlx.train import FitResult, fit

from ._dcdm import dcdm_loss


def train_dcdm(
    A: Any,
    model,
    rhs: Float[Array, "..."],
    *,
    key: PRNGKeyArray,
    epochs: int = 1000,
    batch_size: int = 10,
    learning_rate: float = 1e-4,
    progress: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> FitResult:
    """Train a DCDM network on right-hand sides of one system with the unsupervised loss
    [`dcdm_loss`][scimlx.solvers.dcdm_loss], Adam, as the reference (lr 1e-4, batch 10, up to 1000 epochs).

    **Arguments:**

    - `A`: the training system's operator.
    - `model`: a [`DCDMNet`][scimlx.solvers.DCDMNet] (or any Equinox module of the grid array).
    - `rhs`: training right-hand sides `(n, *shape)`, e.g. [`ritz_rhs`][scimlx.solvers.ritz_rhs].
    - `key`: a PRNG key (shuffling).
    - `epochs`, `batch_size`, `learning_rate`: the Adam recipe.
    - `progress`, `checkpoint_dir`, `checkpoint_every`, `resume`, `overwrite`: as in
        [`scimlx.train.fit`][].

    **Returns:** the [`FitResult`][scimlx.train.FitResult].
    """
    op = as_operator(A)
    key = check_key(key)
    if rhs.ndim != len(op.shape) + 1 or tuple(rhs.shape[1:]) != op.shape:
        raise ValueError(f"`rhs` must have shape (n, *{op.shape}), got {rhs.shape}")
    epochs = check_int("epochs", epochs)
    batch_size = check_int("batch_size", batch_size)
    lr = check_number("learning_rate", learning_rate, low=0, low_open=True)

    def loss_fn(m, batch, *, key):
        del key
        return dcdm_loss(op, m, batch)

    config = {"epochs": epochs, "batch_size": batch_size, "learning_rate": lr, "n_rhs": int(rhs.shape[0])}
    return fit(
        model, loss_fn, jax.numpy.asarray(rhs), optax.adam(lr), key=key, epochs=epochs,
        batch_size=min(batch_size, rhs.shape[0]), progress=progress, checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every, resume=resume, overwrite=overwrite, config=config,
    )  # fmt: skip
