"""The PDEBench/CAPE U-Net baseline: shapes, far-side padding, parameter counts, batch-norm modes."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.operators._common import apply_batch
from scimlx.operators._unet import UNet, _max_pool2
from scimlx.train import count_params
from tests.tiers import tiered

from .helpers import assert_gradients_finite_and_nonzero, filled, rbg_key

apply_jit = eqx.filter_jit(apply_batch)


def analytic_unet_count(c_in, c_out, *, ndim, width, depth, grid=False):
    """Parameters from the layer definitions of PDEBench's UNet (BatchNorm: weight and bias)."""
    k = 3**ndim

    def block(i, o):  # [Conv3 (no bias) -> BN] x 2
        return k * i * o + 2 * o + k * o * o + 2 * o

    ch = [width * 2**level for level in range(depth + 1)]
    n = block(c_in + (ndim if grid else 0), ch[0])
    n += sum(block(ch[level - 1], ch[level]) for level in range(1, depth + 1))  # encoders + bottleneck
    n += sum(2**ndim * ch[lv + 1] * ch[lv] + ch[lv] + block(2 * ch[lv], ch[lv]) for lv in range(depth))  # up
    return n + ch[0] * c_out + c_out  # Conv1x1 head


def shape_count(build) -> int:
    """Trainable parameters of a model built by `build()` (through `make_with_state`), without allocating."""
    model, _ = eqx.filter_eval_shape(build)
    leaves = jax.tree_util.tree_leaves(model)
    return sum(
        math.prod(x.shape) for x in leaves if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)
    )


SMALL = {
    1: dict(depth=2, shape=(13,)),
    2: dict(depth=4, shape=(85, 85)),  # the Darcy grid: padded to 96 x 96
    3: dict(depth=2, shape=(6, 8, 5)),
}


class _SmallModels(dict):
    """`[ndim] -> (model, state, shape)`, each model built on first use (the default tier needs only 2-D)."""

    def __missing__(self, d):
        cfg = SMALL[d]
        model, state = filled(
            lambda: eqx.nn.make_with_state(UNet)(2, 3, ndim=d, width=2, depth=cfg["depth"], key=rbg_key(d)), d
        )
        self[d] = (model, state, cfg["shape"])
        return self[d]


@pytest.fixture(scope="module")
def small_models():
    return _SmallModels()


@pytest.mark.parametrize("ndim", tiered([1, 2, 3], [2]))
def test_output_shapes_every_dimension(small_models, ndim):
    model, state, shape = small_models[ndim]
    x = jax.random.normal(jax.random.key(0), (2, 2, *shape))
    y, new_state = apply_jit(model, state, x)
    assert y.shape == (2, 3, *shape)
    assert bool(jnp.all(jnp.isfinite(y)))
    assert jax.tree_util.tree_structure(new_state) == jax.tree_util.tree_structure(state)


def test_padding_rule():
    model = eqx.filter_eval_shape(UNet, 1, 1, width=2, key=jax.random.key(0))
    assert model.pad_widths((85, 85)) == (11, 11)
    assert model.pad_widths((64, 63)) == (0, 1)
    assert model.pad_widths((1, 16)) == (15, 0)
    model = eqx.filter_eval_shape(UNet, 1, 1, ndim=1, depth=2, width=2, key=jax.random.key(0))
    assert model.pad_widths((13,)) == (3,)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_max_pool_matches_equinox(ndim):
    pool = [eqx.nn.MaxPool1d, eqx.nn.MaxPool2d, eqx.nn.MaxPool3d][ndim - 1](kernel_size=2, stride=2)
    x = jax.random.normal(jax.random.key(0), (3, 8, 6, 4)[: ndim + 1])
    np.testing.assert_array_equal(_max_pool2(x), pool(x))


@pytest.mark.slow
def test_far_side_zero_padding_then_crop(small_models):
    """85 x 85 gives exactly the 96 x 96 result of the input zero-padded on the far side, cropped."""
    model, state, _ = small_models[2]
    x = jax.random.normal(jax.random.key(1), (2, 2, 85, 85))
    y, s1 = apply_jit(model, state, x)
    y_pad, s2 = apply_jit(model, state, jnp.pad(x, [(0, 0), (0, 0), (0, 11), (0, 11)]))
    np.testing.assert_allclose(y, y_pad[..., :85, :85], rtol=1e-5, atol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(s1), jax.tree_util.tree_leaves(s2)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_parameter_counts():
    key = jax.random.key(0)
    for d, cfg in SMALL.items():
        make = eqx.nn.make_with_state(UNet)
        model, _ = eqx.filter_eval_shape(make, 2, 3, ndim=d, width=2, depth=cfg["depth"], key=key)
        assert count_params(model) == analytic_unet_count(2, 3, ndim=d, width=2, depth=cfg["depth"])
    # PDEBench's UNet2d(in_channels, 1, init_features=32): 7,763,041 for 3 input channels (the
    # brain-segmentation U-Net's count), 7,762,465 for one.
    for c_in, expected in [(3, 7_763_041), (1, 7_762_465)]:
        assert analytic_unet_count(c_in, 1, ndim=2, width=32, depth=4) == expected
        assert shape_count(lambda: eqx.nn.make_with_state(UNet)(c_in, 1, key=key)) == expected
    for d in (1, 3):
        expected = analytic_unet_count(1, 1, ndim=d, width=32, depth=4)
        assert shape_count(lambda: eqx.nn.make_with_state(UNet)(1, 1, ndim=d, key=key)) == expected
    expected = analytic_unet_count(1, 1, ndim=2, width=8, depth=3, grid=True)
    assert shape_count(
        lambda: eqx.nn.make_with_state(UNet)(1, 1, width=8, depth=3, append_grid=True, key=key)
    ) == (expected)


def test_architecture_follows_pdebench():
    model, _ = eqx.filter_eval_shape(lambda: eqx.nn.make_with_state(UNet)(1, 1, key=jax.random.key(0)))
    assert [b.conv1.out_channels for b in model.encoders] == [32, 64, 128, 256]
    assert model.bottleneck.conv2.out_channels == 512
    assert [u.out_channels for u in model.up_convs] == [256, 128, 64, 32]
    assert all(u.kernel_size == (2, 2) and u.stride == (2, 2) and u.use_bias for u in model.up_convs)
    assert [b.conv1.in_channels for b in model.decoders] == [512, 256, 128, 64]
    assert all(not b.conv1.use_bias and not b.conv2.use_bias for b in (*model.encoders, *model.decoders))
    assert model.encoders[0].activation is jnp.tanh
    assert model.head.kernel_size == (1, 1) and model.head.use_bias


@pytest.mark.slow
def test_gradients_finite_and_nonzero_for_every_leaf(small_models):
    model, state, _ = small_models[1]  # every layer kind; 1-D keeps the compilation short
    x = jax.random.normal(jax.random.key(5), (2, 2, 13))
    target = jax.random.normal(jax.random.key(6), (2, 3, 13))
    assert_gradients_finite_and_nonzero(model, state, x, target)


@pytest.mark.slow
def test_batch_norm_training_and_inference_modes(small_models):
    model, state, _ = small_models[1]
    x = jax.random.normal(jax.random.key(7), (3, 2, 13))

    # Training mode updates the running statistics; jit and eager agree.
    y_train, s1 = apply_jit(model, state, x)
    y_eager, _ = apply_batch(model, state, x)
    np.testing.assert_allclose(y_train, y_eager, rtol=1e-5, atol=1e-6)
    before, after = jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(s1)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))

    # Inference mode leaves the state unchanged and treats samples independently.
    y_inf, s2 = apply_jit(model, s1, x, inference=True)
    for a, b in zip(jax.tree_util.tree_leaves(s1), jax.tree_util.tree_leaves(s2)):
        np.testing.assert_array_equal(a, b)
    y_one, _ = apply_jit(model, s1, x[:1], inference=True)
    np.testing.assert_allclose(y_one[0], y_inf[0], rtol=1e-5, atol=1e-6)
    assert float(jnp.max(jnp.abs(y_inf - y_train))) > 1e-3  # early running stats differ from the batch's

    # Once the running statistics have converged on this batch, inference reproduces training mode.
    @eqx.filter_jit
    def run(state):
        def step(s, _):
            return apply_batch(model, s, x)[1], None

        return jax.lax.scan(step, state, None, length=120)[0]

    s_conv = run(state)
    # the first BatchNorm's running statistics converge to the batch mean and the *unbiased* variance
    # (PyTorch), of the first convolution's output over the batch and the padded grid
    block = model.encoders[0]
    x_pad = jnp.pad(x, ((0, 0), (0, 0), (0, model.pad_widths(x.shape[2:])[0])))
    h = np.asarray(jax.vmap(block.conv1)(x_pad))
    n = h.shape[0] * h.shape[2]
    running_mean, running_var = s_conv.get(block.norm1.state_index)
    np.testing.assert_allclose(running_mean, h.mean(axis=(0, 2)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(running_var, h.var(axis=(0, 2)) * n / (n - 1), rtol=1e-4, atol=1e-6)


def test_bad_input(small_models):
    model, state, _ = small_models[2]
    with pytest.raises(ValueError, match="in_channels=2"):
        model(jnp.zeros((3, 16, 16)), state)
    with pytest.raises(ValueError, match="2 spatial axes"):
        model(jnp.zeros((2, 16)), state)
    with pytest.raises(ValueError, match="2 spatial axes"):
        model(jnp.zeros((1, 2, 16, 16)), state)  # a batch passed directly
    with pytest.raises(ValueError, match="empty"):
        model(jnp.zeros((2, 0, 16)), state)
    gridded = eqx.filter_eval_shape(UNet, 1, 1, width=2, append_grid=True, key=jax.random.key(0))
    with pytest.raises(ValueError, match="grid coordinates are appended"):
        gridded.check_input(jnp.zeros((3, 8, 8)))
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="width"):
        UNet(1, 1, width=-4, key=key)
    with pytest.raises(ValueError, match="depth"):
        UNet(1, 1, depth=0, key=key)
    with pytest.raises(ValueError, match="ndim"):
        UNet(1, 1, ndim=4, key=key)
    with pytest.raises(ValueError, match="out_channels"):
        UNet(1, 0, key=key)
    with pytest.raises(TypeError, match="width"):
        UNet(1, 1, width=2.0, key=key)
    with pytest.raises(TypeError, match="append_grid"):
        UNet(1, 1, append_grid=1, key=key)
    with pytest.raises(TypeError, match="activation"):
        UNet(1, 1, activation="tanh", key=key)
    with pytest.raises(TypeError, match="key"):
        UNet(1, 1, key=None)
