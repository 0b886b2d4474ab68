"""Each operator over-fits 16 Darcy samples at 32 x 32 through the shared recipe: the loss drops >= 10x."""

import equinox as eqx
import jax
import pytest

from scimlx.datasets import generate
from scimlx.operators import FNO, LSM, OperatorConfig, UNet, train_operator
from scimlx.train import RunOptions

from .helpers import rbg_key

pytestmark = pytest.mark.slow  # the slower tier: `pytest -m slow`


@pytest.fixture(scope="module")
def darcy16():
    g = generate("darcy", 16, seed=0, resolution=32)
    return g.recipe.pairs(g.arrays, g.params)


@pytest.mark.parametrize(
    "cls, kwargs, train",
    [
        # full batches keep BatchNorm's statistics fixed, which an over-fit needs
        (LSM, {"width": 8}, {"epochs": 100, "batch_size": 16, "step_size": 40}),
        (FNO, {"modes": 8, "width": 16}, {"epochs": 100, "batch_size": 8, "step_size": 1000}),
        (UNet, {"width": 8}, {"epochs": 200, "batch_size": 16, "step_size": 60}),
    ],
)
def test_overfit_darcy(darcy16, cls, kwargs, train):
    x, y = darcy16
    model, state = eqx.nn.make_with_state(cls)(1, 1, ndim=2, key=rbg_key(0), **kwargs)
    config = OperatorConfig(learning_rate=3e-3, weight_decay=0.0, **train)
    res = train_operator(
        model, state, x, y, key=jax.random.key(1), config=config, run=RunOptions(progress=False)
    )
    loss = res.history["loss"]
    first, last = float(loss[:2].mean()), float(loss[-2:].mean())
    assert last < first / 10, (cls.__name__, first, last)
