"""The operators' convolutions against XLA's plain formulas (values and gradients, float64), and the shared
double-convolution block."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.operators import Conv, ConvTranspose, DoubleConv, conv, conv_transpose
from scimlx.operators._common import BATCH_AXIS
from tests.tiers import tiered


def _xla_conv(x, w, stride, padding):
    nd = x.ndim - 1
    return jax.lax.conv_general_dilated(x[None], w, (stride,) * nd, ((padding, padding),) * nd)[0]


def _xla_conv_transpose(x, w, stride, padding):
    # the textbook form: correlate the zero-dilated input with the flipped, in/out-swapped kernel
    nd = x.ndim - 1
    k = w.shape[2:]
    wf = jnp.flip(jnp.swapaxes(w, 0, 1), axis=tuple(range(2, 2 + nd)))
    pads = [(kk - 1 - padding, kk - 1 - padding) for kk in k]
    return jax.lax.conv_general_dilated(x[None], wf, (1,) * nd, pads, lhs_dilation=(stride,) * nd)[0]


def _max_diff(a, b):
    return max(float(jnp.max(jnp.abs(u - v))) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _compare(f, reference, x, w, seed):
    """The largest differences of `f` and `reference` in value and in the gradients (x and w) of a random
    linear functional of the output, in one compiled program."""

    @jax.jit
    def both(x, w):
        y, y_ref = f(x, w), reference(x, w)
        g = jax.random.normal(jax.random.key(seed), y_ref.shape, y_ref.dtype)
        grads = [
            jax.grad(lambda x, w, h=h: jnp.sum(h(x, w) * g), argnums=(0, 1))(x, w) for h in (f, reference)
        ]
        return y, y_ref, grads

    y, y_ref, (grad, grad_ref) = both(x, w)
    assert y.shape == y_ref.shape
    return _max_diff(y, y_ref), _max_diff(grad, grad_ref)


_CASES = [(nd, k, p, n) for nd, k, n in itertools.product((1, 2), (2, 3, 4), (6, 7)) for p in range(k)]


@pytest.mark.parametrize("nd,k,p,n", tiered(_CASES, [(2, 4, 1, 7)], unpack=True))
def test_stride_two_transposed_convolution_matches_the_dilated_form(nd, k, p, n):
    with jax.enable_x64(True):
        rng = np.random.default_rng(100 * nd + 10 * k + p + n)
        shape = (n,) if nd == 1 else (n, n - 1)  # an odd and an even axis
        x = jnp.asarray(rng.standard_normal((3, *shape)))
        w = jnp.asarray(rng.standard_normal((3, 2) + (k,) * nd))
        value, grad = _compare(
            lambda x, w: conv_transpose(x, w, stride=2, padding=p),
            lambda x, w: _xla_conv_transpose(x, w, 2, p),
            x, w, seed=n,
        )  # fmt: skip
        assert jax.eval_shape(lambda x, w: conv_transpose(x, w, stride=2, padding=p), x, w).shape == (
            2,
        ) + tuple(2 * (m - 1) - 2 * p + k for m in shape)
        assert value < 1e-12 and grad < 1e-12


_CONV_CASES = [
    (nd, k, p, n, s)
    for (nd, k, p, n), s in itertools.product(
        [(1, 3, 0, 7), (1, 3, 1, 8), (2, 3, 1, 8), (2, 3, 0, 7), (2, 1, 0, 5), (2, 4, 1, 9)], (1, 2)
    )
]


@pytest.mark.parametrize("nd,k,p,n,stride", tiered(_CONV_CASES, [(2, 3, 0, 7, 2)], unpack=True))
def test_convolution_values_and_gradients_match_xla(nd, k, p, n, stride):
    with jax.enable_x64(True):
        rng = np.random.default_rng(7 * n + k + stride)
        x = jnp.asarray(rng.standard_normal((3,) + (n,) * nd))
        w = jnp.asarray(rng.standard_normal((2, 3) + (k,) * nd))
        value, grad = _compare(
            lambda x, w: conv(x, w, stride=stride, padding=p),
            lambda x, w: _xla_conv(x, w, stride, p),
            x, w, seed=n,
        )  # fmt: skip
        assert value < 1e-12 and grad < 1e-12


@pytest.mark.parametrize("mode,np_mode", [("circular", "wrap"), ("reflect", "reflect")])
def test_conv_module_pads_in_its_mode_before_correlating(mode, np_mode):
    layer = Conv(2, 2, 3, 3, stride=2, padding=1, padding_mode=mode, bias=True, key=jax.random.key(0))
    x = np.random.default_rng(0).standard_normal((2, 6, 5)).astype(np.float32)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode=np_mode)
    w, b = np.asarray(layer.weight), np.asarray(layer.bias)
    want = np.zeros((3, 3, 3), np.float32)
    for o, i, j in itertools.product(range(3), range(3), range(3)):
        want[o, i, j] = b[o] + np.sum(w[o] * xp[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3])
    np.testing.assert_allclose(np.asarray(layer(jnp.asarray(x))), want, rtol=1e-5, atol=1e-5)


def test_convolution_refuses_mismatched_weights_and_bad_arguments():
    x = jnp.zeros((3, 8, 8))
    with pytest.raises(ValueError, match="C_in = 3"):
        conv(x, jnp.zeros((2, 4, 3, 3)))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv(jnp.zeros((3, 2, 2)), jnp.zeros((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="stride"):
        conv(x, jnp.zeros((2, 3, 3, 3)), stride=0)
    with pytest.raises(ValueError, match="padding"):
        conv_transpose(x, jnp.zeros((3, 2, 3, 3)), padding=3)
    with pytest.raises(ValueError, match=r"\(C_in, C_out, \*k\) with C_in = 8"):  # channels last: 8 channels
        conv_transpose(x, jnp.zeros((3, 2, 3, 3)), channels_last=True)
    with pytest.raises(TypeError, match="channels_last"):
        conv(x, jnp.zeros((2, 3, 3, 3)), channels_last="yes")


def test_convolution_modules_refuse_bad_arguments_by_name():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="padding_mode"):
        Conv(2, 1, 1, 3, padding=1, padding_mode="wrap", bias=True, key=key)
    with pytest.raises(ValueError, match="in_channels"):
        Conv(2, 0, 1, 3, bias=True, key=key)
    with pytest.raises(TypeError, match="kernel"):
        ConvTranspose(4, 4, key=key)
    with pytest.raises(ValueError, match=r"kernel\[1\]"):
        ConvTranspose(4, (4, 1), key=key)
    with pytest.raises(ValueError, match="c_mid"):
        DoubleConv(2, 3, 4, c_mid=0, key=key)
    with pytest.raises(TypeError, match="activation"):
        DoubleConv(2, 3, 4, activation="relu", key=key)


def test_double_conv_is_two_convolutions_each_normalised_over_the_batch_then_activated():
    block = DoubleConv(1, 2, 3, c_mid=4, activation=jnp.tanh, key=jax.random.key(0))
    state = eqx.nn.State(block)
    x = jnp.asarray(np.random.default_rng(1).standard_normal((5, 2, 7)), jnp.float32)

    def norm(h):  # batch statistics over (batch, grid), biased variance, eps 1e-5
        mean = h.mean(axis=(0, 2), keepdims=True)
        return (h - mean) / jnp.sqrt(h.var(axis=(0, 2), keepdims=True) + 1e-5)

    @eqx.filter_jit
    def both(block, state, x):
        y, _ = jax.vmap(block, in_axes=(0, None), out_axes=(0, None), axis_name=BATCH_AXIS)(x, state)
        h = jnp.tanh(norm(jax.vmap(block.conv1)(x)))
        return y, jnp.tanh(norm(jax.vmap(block.conv2)(h)))

    y, want = both(block, state, x)
    assert y.shape == (5, 3, 7)
    np.testing.assert_allclose(np.asarray(y), np.asarray(want), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stride", tiered([1, 2], [2]))
def test_channels_last_layout_gives_the_same_values_and_gradients(stride):
    """`(*n, C)` in and out (the layout MgNO keeps inside) against PyTorch's `(C, *n)`, for the correlation
    and the transposed convolution; float64."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(stride)
        x = jnp.asarray(rng.standard_normal((3, 7, 6)))
        w = jnp.asarray(rng.standard_normal((2, 3, 3, 3)))
        wt = jnp.asarray(rng.standard_normal((3, 2, 4, 3)))
        first, last = (lambda a: a), (lambda a: jnp.moveaxis(a, 0, -1))

        @jax.jit
        def both(x, w, wt):
            def f(x, w, wt, cl):
                y = conv(x, w, stride=stride, padding=1, channels_last=cl)
                z = conv_transpose(x, wt, stride=2, padding=1, channels_last=cl)
                back = (lambda a: jnp.moveaxis(a, -1, 0)) if cl else first
                return back(y), back(z)

            out = {cl: f((last if cl else first)(x), w, wt, cl) for cl in (False, True)}
            grads = {
                cl: jax.grad(
                    lambda x, w, wt: sum(jnp.sum(jnp.sin(a)) for a in f(x, w, wt, cl)), argnums=(0, 1, 2)
                )((last if cl else first)(x), w, wt)
                for cl in (False, True)
            }
            return out, grads

        out, grads = both(x, w, wt)
        assert _max_diff(out[False], out[True]) < 1e-12
        gx_last = jnp.moveaxis(grads[True][0], -1, 0)
        assert _max_diff((grads[False][0], *grads[False][1:]), (gx_last, *grads[True][1:])) < 1e-12


# the blocks' 3x3 convolutions: XLA's forward pass, the weight gradient over the whole batch at once
# (`_batch_weight_grad`, one product on fine grids, one per tap on coarse ones); both layouts, 1-3 axes
_SAME_CASES = [
    (1, (40,), 3, 4),  # 40 points >= 9 x 4 channels: the stacked single product
    (2, (12, 10), 3, 5),
    (2, (4, 4), 6, 5),  # 16 points < 9 x 6: one product per tap
    (3, (5, 6, 4), 2, 3),
    (3, (3, 3, 3), 8, 8),
]


@pytest.mark.parametrize("nd,n,ci,co", tiered(_SAME_CASES, [_SAME_CASES[2]], unpack=True))
def test_same_convolution_gradients_over_the_batch_match_xla(nd, n, ci, co):
    from scimlx.operators._conv import _same_conv

    with jax.enable_x64(True):
        rng = np.random.default_rng(nd + ci)
        for k, cl in itertools.product((1, 3, 5), (False, True)):
            layer = eqx.nn.Conv(nd, ci, co, k, padding=k // 2, use_bias=False, key=jax.random.key(0))
            w = jnp.asarray(rng.standard_normal(layer.weight.shape))
            layer = eqx.tree_at(lambda lay: lay.weight, layer, w)
            x = jnp.asarray(rng.standard_normal((4,) + (n + (ci,) if cl else (ci,) + n)))
            probe = jnp.asarray(rng.standard_normal((4,) + (n + (co,) if cl else (co,) + n)))
            dims = jax.lax.conv_dimension_numbers((1,) + x.shape[1:], w.shape, _layouts(nd, cl))

            def ours(w, x):
                lay = eqx.tree_at(lambda lay: lay.weight, layer, w)
                return jnp.sum(jax.vmap(lambda v: _same_conv(lay, v, cl), axis_name=BATCH_AXIS)(x) * probe)

            def plain(w, x):
                pad = ((k // 2, k // 2),) * nd
                y = jax.lax.conv_general_dilated(x, w, (1,) * nd, pad, dimension_numbers=dims)
                return jnp.sum(y * probe)

            got, want = jax.grad(ours, (0, 1))(w, x), jax.grad(plain, (0, 1))(w, x)
            assert _max_diff(got, want) < 1e-11 * (1 + float(jnp.abs(want[0]).max())), (k, cl)

            # one sample, outside any vmap
            def single(w):
                return jnp.sum(_same_conv(eqx.tree_at(lambda lay: lay.weight, layer, w), x[0], cl) * probe[0])

            want_one = _one_sample_grad(x[0], probe[0], w, k, nd, dims)
            assert _max_diff(jax.grad(single)(w), want_one) < 1e-11 * (1 + float(jnp.abs(want_one).max()))


def _layouts(nd, cl):
    spatial = "DHW"[-nd:]
    lhs = "N" + (spatial + "C" if cl else "C" + spatial)
    return lhs, "OI" + spatial, lhs


def _one_sample_grad(x, probe, w, k, nd, dims):
    def f(w):
        y = jax.lax.conv_general_dilated(
            x[None], w, (1,) * nd, ((k // 2, k // 2),) * nd, dimension_numbers=dims
        )
        return jnp.sum(y[0] * probe)

    return jax.grad(f)(w)


@pytest.mark.parametrize("nd", tiered([1, 2, 3], [2]))
def test_double_conv_and_batch_norm_channels_last_equal_channels_first(nd):
    with jax.enable_x64(True):
        rng = np.random.default_rng(nd)
        block = DoubleConv(nd, 2, 3, key=jax.random.key(nd))
        block = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64) if eqx.is_inexact_array(a) else a, block)
        state = eqx.nn.State(block)
        x = jnp.asarray(rng.standard_normal((3, 2) + (6, 5, 4)[:nd]))

        def run(x, cl):
            f = jax.vmap(lambda v, s: block(v, s, channels_last=cl), in_axes=(0, None), out_axes=(0, None),
                         axis_name=BATCH_AXIS)  # fmt: skip
            return f(jnp.moveaxis(x, 1, -1) if cl else x, state)

        y_first, s_first = run(x, False)
        y_last, s_last = run(x, True)
        assert _max_diff(y_first, jnp.moveaxis(y_last, -1, 1)) < 1e-12
        assert _max_diff(jax.tree.leaves(s_first), jax.tree.leaves(s_last)) < 1e-12


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_unet_up_convolution_and_pooling_channels_last_match_equinox(nd):
    from scimlx.operators._unet import _max_pool2, _up_conv_cl

    with jax.enable_x64(True):
        rng = np.random.default_rng(nd)
        up = eqx.nn.ConvTranspose(nd, 4, 3, kernel_size=2, stride=2, key=jax.random.key(0))
        up = jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(a.shape)) if eqx.is_array(a) else a, up)
        x = jnp.asarray(rng.standard_normal((4,) + (3, 4, 2)[:nd]))
        want = up(x)
        got = jnp.moveaxis(_up_conv_cl(up, jnp.moveaxis(x, 0, -1)), -1, 0)
        assert _max_diff(got, want) < 1e-12
        xe = jnp.asarray(rng.standard_normal((4,) + (6, 4, 2)[:nd]))
        pooled = _max_pool2(jnp.moveaxis(xe, 0, -1), channels_last=True)
        assert _max_diff(jnp.moveaxis(pooled, -1, 0), _max_pool2(xe)) == 0
