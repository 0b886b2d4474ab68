"""Clear errors where an operator's user can slip: a BatchNorm model called on one sample in training mode,
and `apply_batch` given its arguments in the wrong order, of the wrong kind or without the batch axis."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

from scimlx.operators import UNet, apply_batch
from scimlx.operators._common import BatchNorm

from .helpers import filled, rbg_key

ONE_SAMPLE = r"BatchNorm in training mode needs the batch.*apply_batch\(model, state, x\).*inference_mode"


@pytest.fixture(scope="module")
def unet1d():
    return filled(lambda: eqx.nn.make_with_state(UNet)(1, 1, ndim=1, width=4, depth=2, key=rbg_key(0)), 0)


@eqx.filter_jit
def _call(model, state, x):
    return model(x, state)


def test_batchnorm_one_sample_in_training_mode_raises():
    norm, state = eqx.nn.make_with_state(BatchNorm)(3)
    x = jnp.ones((3, 4))
    with pytest.raises(ValueError, match=ONE_SAMPLE):
        norm(x, state)
    with pytest.raises(ValueError, match=ONE_SAMPLE):
        _call(norm, state, x)
    # a vmap without the axis name is no batch for BatchNorm either
    with pytest.raises(ValueError, match=ONE_SAMPLE):
        jax.vmap(lambda xi: norm(xi, state)[0])(jnp.ones((2, 3, 4)))
    # the two ways out
    y, _ = apply_batch(norm, state, x[None])
    assert y.shape == (1, 3, 4)
    y, same = eqx.nn.inference_mode(norm)(x, state)
    assert y.shape == (3, 4) and same is state


def test_unet_one_sample_in_training_mode_raises(unet1d):
    model, state = unet1d
    x = jnp.ones((1, 16))
    with pytest.raises(ValueError, match=ONE_SAMPLE):
        model(x, state)
    with pytest.raises(ValueError, match=ONE_SAMPLE):
        _call(model, state, x)
    y, _ = _call(eqx.nn.inference_mode(model), state, x)
    assert y.shape == (1, 16)


def test_apply_batch_arguments_in_the_wrong_order(unet1d):
    model, state = unet1d
    x = jnp.ones((2, 1, 16))
    swapped = r"`state` must be .*got an array of shape \(2, 1, 16\).*apply_batch\(model, state, x\)"
    with pytest.raises(TypeError, match=swapped):
        apply_batch(model, x, state)
    with pytest.raises(TypeError, match=r"`model` must be an operator.*got an `eqx.nn.State`"):
        apply_batch(state, model, x)
    with pytest.raises(TypeError, match=r"`model` is a \(model, state\) pair"):
        apply_batch((model, state), state, x)
    with pytest.raises(TypeError, match=r"`x` must be an array batch.*got an `eqx.nn.State`"):
        apply_batch(model, None, state)


def test_apply_batch_arguments_of_the_wrong_kind(unet1d):
    model, state = unet1d
    x = jnp.ones((2, 1, 16))
    with pytest.raises(TypeError, match="`model` must be an operator.*got function"):
        apply_batch(lambda x, s, key=None: (x, s), state, x)
    with pytest.raises(TypeError, match="`x` must be an array batch.*got list"):
        apply_batch(model, state, [[1.0] * 16])
    with pytest.raises(TypeError, match="`key` must be a JAX PRNG key"):
        apply_batch(model, state, x, key=0)
    with pytest.raises(ValueError, match="`key` must be a single PRNG key"):
        apply_batch(model, state, x, key=jax.random.split(jax.random.key(0), 2))
    with pytest.raises(TypeError, match="`inference` must be a bool"):
        apply_batch(model, state, x, inference=1)


def test_apply_batch_needs_the_batch_axis(unet1d):
    model, state = unet1d
    one = r"leading batch axis and 1 spatial axis, got shape \(1, 16\).*looks like one sample.*x\[None\]"
    with pytest.raises(ValueError, match=one):
        apply_batch(model, state, jnp.ones((1, 16)))  # one sample
    with pytest.raises(ValueError, match=r"1 spatial axis, got shape \(2, 1, 16, 16\)$"):
        apply_batch(model, state, jnp.ones((2, 1, 16, 16)))
    norm, norm_state = eqx.nn.make_with_state(BatchNorm)(3)
    with pytest.raises(ValueError, match=r"`x` must be a batch.*leading batch axis, got shape \(3,\)"):
        apply_batch(norm, norm_state, jnp.ones(3))
    # a key given as raw key data is accepted (and split over the batch)
    y, _ = apply_batch(norm, norm_state, jnp.ones((2, 3, 4)), key=jax.random.PRNGKey(0))
    assert y.shape == (2, 3, 4)
