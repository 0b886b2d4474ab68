"""LSM: shapes in 1-3 dimensions, the reference parameter count, the Neural Spectral Block's layout,
aligned-corner upsampling, the padding/patch rule, gradients, BatchNorm modes and bad input."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.operators._common import apply_batch
from scimlx.operators._lsm import LSM, NeuralSpectralBlock, lsm_padding, upsample_bilinear_aligned
from scimlx.train import count_params
from tests.tiers import tiered

from .helpers import assert_gradients_finite_and_nonzero, filled, rbg_key

# ------------------------------------------------------------------------------------------------------------
# Analytic parameter count from the reference layer definitions (PyTorch: BatchNorm weight + bias count)
# ------------------------------------------------------------------------------------------------------------


def _double_conv(c_in, c_out, c_mid=None):
    c_mid = c_out if c_mid is None else c_mid
    return 9 * c_in * c_mid + 2 * c_mid + 9 * c_mid * c_out + 2 * c_out  # 3x3 convs without bias, BN w+b


def _nsb(c, num_basis=12, num_token=4):
    # weights (C, 2K) + latent (h, T, C/h) + encoder Conv1x1 C->2C (bias) + decoder Conv1x1 C->C (bias)
    return 2 * num_basis * c + num_token * c + (2 * c * c + 2 * c) + (c * c + c)


def _analytic_2d(c_in, c_out, w):
    lift = (c_in + 2) * w + w
    encoder = _double_conv(w, w) + _double_conv(w, 2 * w) + _double_conv(2 * w, 4 * w)
    encoder += _double_conv(4 * w, 8 * w) + _double_conv(8 * w, 8 * w)
    decoder = _double_conv(16 * w, 4 * w, 8 * w) + _double_conv(8 * w, 2 * w, 4 * w)
    decoder += _double_conv(4 * w, w, 2 * w) + _double_conv(2 * w, w, w)
    nsbs = sum(_nsb(c) for c in (w, 2 * w, 4 * w, 8 * w, 8 * w))
    head = (w * w + w) + (w * 128 + 128) + (128 * c_out + c_out)
    return lift + encoder + decoder + nsbs + head, nsbs


def _count_shapes(tree):
    leaves = jax.tree_util.tree_leaves(tree)
    return sum(
        math.prod(x.shape) for x in leaves if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)
    )


@pytest.mark.parametrize("width,millions", [(64, 19.19), (48, 10.80), (32, 4.81)])
def test_parameter_count_matches_reference(width, millions):
    model, _ = eqx.filter_eval_shape(eqx.nn.make_with_state(LSM), 1, 1, width=width, key=jax.random.key(0))
    total, nsbs = _analytic_2d(1, 1, width)
    assert _count_shapes(model) == total
    assert round(total / 1e6, 2) == millions
    nsb_count = _count_shapes([getattr(model, f"process{i}") for i in range(1, 6)])
    assert nsb_count == nsbs
    if width == 64:
        assert total == 19_187_457  # the Darcy configuration: 19.19 M
        assert round(nsbs / 1e6, 2) == 1.88


def test_parameter_count_small_model_measured(lsm2d):
    assert count_params(lsm2d[0]) == _analytic_2d(1, 2, 8)[0]


# ------------------------------------------------------------------------------------------------------------
# Models (module-scoped: compiled once)
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lsm2d():
    return filled(lambda: eqx.nn.make_with_state(LSM)(1, 2, ndim=2, width=8, key=rbg_key(1)), 1)


@eqx.filter_jit
def _train_apply(model, state, x):
    return apply_batch(model, state, x)


@eqx.filter_jit
def _infer_apply(model, state, x):
    return apply_batch(model, state, x, inference=True)


@pytest.mark.parametrize("shape", tiered([(32, 32), (20, 24)], [(20, 24)]))
def test_shapes_2d(lsm2d, shape):
    model, state = lsm2d
    x = jax.random.normal(jax.random.key(2), (2, 1, *shape))
    y, new_state = _train_apply(model, state, x)
    assert y.shape == (2, 2, *shape)
    assert bool(jnp.all(jnp.isfinite(y)))
    # training mode updates the running statistics
    changed = jax.tree_util.tree_map(lambda a, b: bool(jnp.any(a != b)), state, new_state)
    assert any(jax.tree_util.tree_leaves(changed))


@pytest.mark.slow
def test_shapes_1d_and_explicit_padding():
    model, state = eqx.nn.make_with_state(LSM)(2, 3, ndim=1, width=8, key=rbg_key(3))
    x = jax.random.normal(jax.random.key(4), (2, 2, 40))  # pad 8 -> 48, patch 3
    y, _ = _train_apply(model, state, x)
    assert y.shape == (2, 3, 40) and bool(jnp.all(jnp.isfinite(y)))
    # no padding: scales 20, 10, 5, 2, 1 (odd sizes: the decoder pads the upsampled map), patch 1
    model0, state0 = eqx.nn.make_with_state(LSM)(2, 3, ndim=1, width=8, padding=0, key=rbg_key(3))
    assert model0.padding_and_patch((20,)) == ((0,), (1,))
    y, _ = _train_apply(model0, state0, x[..., :20])
    assert y.shape == (2, 3, 20) and bool(jnp.all(jnp.isfinite(y)))


@pytest.mark.slow
def test_shapes_3d():
    model, state = eqx.nn.make_with_state(LSM)(1, 1, ndim=3, width=8, key=rbg_key(5))
    assert model.padding_and_patch((16, 16, 16)) == ((0, 0, 0), (1, 1, 1))
    assert model.padding_and_patch((20, 16, 8)) == ((12, 0, 8), (2, 1, 1))
    x = jax.random.normal(jax.random.key(6), (2, 1, 16, 16, 16))
    y, _ = _train_apply(model, state, x)
    assert y.shape == (2, 1, 16, 16, 16) and bool(jnp.all(jnp.isfinite(y)))


@pytest.mark.slow
def test_gradients_finite_and_nonzero(lsm2d):
    model, state = lsm2d
    x = jax.random.normal(jax.random.key(7), (2, 1, 20, 24))
    target = jax.random.normal(jax.random.key(8), (2, 2, 20, 24))
    assert_gradients_finite_and_nonzero(model, state, x, target)


def test_inference_mode(lsm2d):
    model, state = lsm2d
    x = jax.random.normal(jax.random.key(9), (2, 1, 20, 24))  # test_shapes_2d's shape: compiled once
    _, state = _train_apply(model, state, x)  # non-trivial running statistics
    y, new_state = _infer_apply(model, state, x)
    assert y.shape == (2, 2, 20, 24) and bool(jnp.all(jnp.isfinite(y)))
    for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(new_state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # with running statistics each sample is independent of the rest of the batch (another second sample,
    # the same batch shape: no second compilation)
    other = jnp.concatenate([x[:1], jax.random.normal(jax.random.key(10), x[:1].shape)])
    y0, _ = _infer_apply(model, state, other)
    np.testing.assert_allclose(np.asarray(y0[0]), np.asarray(y[0]), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------------------------
# Neural Spectral Block against a NumPy transcription of the reference's tensor layout
# ------------------------------------------------------------------------------------------------------------


def _softmax(a):
    a = a - a.max(axis=-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=-1, keepdims=True)


def _nsb_reference(x, latent, weights, enc_w, enc_b, dec_w, dec_b, patch, heads):
    """The reference's view/permute sequence (NCHW batch, PyTorch row-major reshapes) in NumPy."""
    b, c, hh, ww = x.shape
    ph, pw = patch
    t, k = latent.shape[1], weights.shape[1] // 2
    d, n_l = c // heads, ph * pw
    xp = x.reshape(b, c, hh // ph, ph, ww // pw, pw).transpose(0, 2, 4, 1, 3, 5).reshape(-1, c, ph, pw)
    bp = xp.shape[0]
    enc = np.einsum("oc,bchw->bohw", enc_w, xp) + enc_b[None, :, None, None]
    kv = enc.reshape(bp, 2 * c, n_l).transpose(0, 2, 1).reshape(bp, n_l, heads, d, 2).transpose(4, 0, 2, 1, 3)
    lat = np.broadcast_to(latent[None], (bp, *latent.shape))
    z = np.einsum("bhls,bhsc->bhlc", _softmax(np.einsum("bhlc,bhsc->bhls", lat, kv[0])), kv[1]) + lat
    z = z.transpose(0, 1, 3, 2).reshape(bp, c, t)
    modes = np.arange(k) / k
    basis = np.concatenate([np.sin(modes * z[..., None] * np.pi), np.cos(modes * z[..., None] * np.pi)], -1)
    z = np.einsum("bilm,im->bil", basis, weights) + z
    tok = z.reshape(bp, heads, d, t).transpose(0, 1, 3, 2)
    dec = np.einsum("oc,bchw->bohw", dec_w, xp) + dec_b[None, :, None, None]
    q = dec.reshape(bp, c, n_l).transpose(0, 2, 1).reshape(bp, n_l, heads, d).transpose(0, 2, 1, 3)
    out = np.einsum("bhls,bhsc->bhlc", _softmax(np.einsum("bhlc,bhsc->bhls", q, tok)), tok)
    out = out.transpose(0, 1, 3, 2).reshape(bp, c, ph, pw) + xp
    return out.reshape(b, hh // ph, ww // pw, c, ph, pw).transpose(0, 3, 1, 4, 2, 5).reshape(b, c, hh, ww)


def test_neural_spectral_block_matches_reference_layout():
    c, heads, patch = 16, 8, (4, 3)
    block = NeuralSpectralBlock(2, c, num_basis=12, num_token=4, n_heads=heads, key=rbg_key(10))
    # larger, signed values than the initialisation so that every ordering mistake shows
    k1, k2, k3 = jax.random.split(jax.random.key(11), 3)
    block = eqx.tree_at(lambda b: b.latent, block, jax.random.normal(k1, block.latent.shape))
    block = eqx.tree_at(lambda b: b.weights, block, 0.3 * jax.random.normal(k2, block.weights.shape))
    x = jax.random.normal(k3, (2, c, 8, 12))
    y = eqx.filter_jit(lambda b, xs: jax.vmap(lambda xi: b(xi, patch))(xs))(block, x)
    expected = _nsb_reference(
        np.asarray(x, np.float64),
        np.asarray(block.latent, np.float64),
        np.asarray(block.weights, np.float64),
        np.asarray(block.encoder_attn.weight[:, :, 0, 0], np.float64),
        np.asarray(block.encoder_attn.bias[:, 0, 0], np.float64),
        np.asarray(block.decoder_attn.weight[:, :, 0, 0], np.float64),
        np.asarray(block.decoder_attn.bias[:, 0, 0], np.float64),
        patch,
        heads,
    )
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-4, atol=1e-4)


def test_neural_spectral_block_init_and_errors():
    block = NeuralSpectralBlock(2, 64, key=rbg_key(0))
    assert block.weights.shape == (64, 24) and block.latent.shape == (8, 4, 8)
    for leaf in (block.weights, block.latent):  # U(0, 1) / C
        assert float(leaf.min()) >= 0.0 and float(leaf.max()) <= 1 / 64
    with pytest.raises(ValueError, match="n_heads"):
        NeuralSpectralBlock(2, 12, key=jax.random.key(0))


# ------------------------------------------------------------------------------------------------------------
# Aligned-corner upsampling
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_upsample_1d_hand_computed():
    x = jnp.array([[0.0, 1.0, 2.0]])
    y = upsample_bilinear_aligned(x, size=5)  # sources i * 2 / 4
    np.testing.assert_allclose(np.asarray(y), [[0.0, 0.5, 1.0, 1.5, 2.0]], atol=1e-6)
    # x2: 3 -> 6 points, sources i * 2 / 5 = 0, .4, .8, 1.2, 1.6, 2
    y = upsample_bilinear_aligned(x)
    np.testing.assert_allclose(np.asarray(y), [[0.0, 0.4, 0.8, 1.2, 1.6, 2.0]], atol=1e-6)
    y = upsample_bilinear_aligned(jnp.array([[3.0, -1.0]]))  # 2 -> 4: sources 0, 1/3, 2/3, 1
    np.testing.assert_allclose(np.asarray(y), [[3.0, 3 - 4 / 3, 3 - 8 / 3, -1.0]], atol=1e-6)
    y = upsample_bilinear_aligned(jnp.array([[5.0]]))  # a single point is repeated
    np.testing.assert_allclose(np.asarray(y), [[5.0, 5.0]])


def _upsample_numpy_2d(a, scale):
    """Bilinear interpolation at source coordinates i (n_in - 1) / (n_out - 1), by explicit loops."""
    c, h, w = a.shape
    ho, wo = scale * h, scale * w
    out = np.zeros((c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            si, sj = i * (h - 1) / (ho - 1), j * (w - 1) / (wo - 1)
            i0, j0 = int(np.floor(si)), int(np.floor(sj))
            i1, j1 = min(i0 + 1, h - 1), min(j0 + 1, w - 1)
            fi, fj = si - i0, sj - j0
            out[:, i, j] = (
                (1 - fi) * (1 - fj) * a[:, i0, j0]
                + (1 - fi) * fj * a[:, i0, j1]
                + fi * (1 - fj) * a[:, i1, j0]
                + fi * fj * a[:, i1, j1]
            )
    return out


def test_upsample_2d_hand_computed():
    a = np.array([[[0.0, 1.0], [2.0, 4.0]]])
    y = np.asarray(upsample_bilinear_aligned(jnp.asarray(a)))
    # 2 -> 4 points: sources 0, 1/3, 2/3, 1 along each axis
    row0 = [0.0, 1 / 3, 2 / 3, 1.0]
    row3 = [2.0, 2 + 2 / 3, 2 + 4 / 3, 4.0]
    np.testing.assert_allclose(y[0, 0], row0, atol=1e-6)
    np.testing.assert_allclose(y[0, 3], row3, atol=1e-6)
    np.testing.assert_allclose(y[0, 1], [(2 * r0 + r3) / 3 for r0, r3 in zip(row0, row3)], atol=1e-6)
    b = np.random.default_rng(0).normal(size=(3, 5, 7))
    for scale in (2, 3):
        y = upsample_bilinear_aligned(jnp.asarray(b), scale)
        np.testing.assert_allclose(np.asarray(y), _upsample_numpy_2d(b, scale), atol=1e-5)
    # jax.image.resize uses half-pixel centres: not the same operation
    resized = jax.image.resize(jnp.asarray(b), (3, 10, 14), "linear")
    assert not np.allclose(np.asarray(resized), _upsample_numpy_2d(b, 2), atol=1e-3)


def test_upsample_3d_corners_and_linear_fields():
    g = np.stack(np.meshgrid(np.arange(3.0), np.arange(4.0), np.arange(2.0), indexing="ij"))
    field = (1.0 + 2.0 * g[0] - g[1] + 0.5 * g[2])[None]  # trilinear interpolation reproduces it exactly
    y = np.asarray(upsample_bilinear_aligned(jnp.asarray(field)))
    assert y.shape == (1, 6, 8, 4)
    gi = np.stack(
        np.meshgrid(np.linspace(0, 2, 6), np.linspace(0, 3, 8), np.linspace(0, 1, 4), indexing="ij")
    )
    np.testing.assert_allclose(y[0], 1.0 + 2.0 * gi[0] - gi[1] + 0.5 * gi[2], atol=1e-5)
    with pytest.raises(ValueError, match="spatial"):
        upsample_bilinear_aligned(jnp.zeros((1, 2, 2, 2, 2)))


# ------------------------------------------------------------------------------------------------------------
# Padding / patch rule
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,pad,patch", [(85, 11, 6), (64, 0, 4), (20, 12, 2), (16, 0, 1), (1, 15, 1)])
def test_padding_rule(n, pad, patch):
    assert lsm_padding((n,)) == ((pad,), (patch,))


def test_padding_rule_per_axis_and_model():
    assert lsm_padding((85, 64)) == ((11, 0), (6, 4))
    model, _ = eqx.filter_eval_shape(eqx.nn.make_with_state(LSM), 1, 1, width=8, key=jax.random.key(0))
    assert model.padding_and_patch((85, 85)) == ((11, 11), (6, 6))  # reference Darcy
    assert model.padding_and_patch((64, 64)) == ((0, 0), (4, 4))  # reference Navier-Stokes
    fixed, _ = eqx.filter_eval_shape(
        eqx.nn.make_with_state(LSM), 1, 1, width=8, patch=(3, 4), key=jax.random.key(0)
    )
    assert fixed.padding_and_patch((85, 64)) == ((11, 0), (3, 4))
    with pytest.raises(ValueError, match=r"Patches that fit: \[1, 2, 3, 6\]"):
        fixed.padding_and_patch((85, 85))  # 96 / 16 = 6 is not a multiple of 4 on the second axis
    with pytest.raises(ValueError, match="too small"):
        eqx.filter_eval_shape(eqx.nn.make_with_state(LSM), 1, 1, width=8, padding=0, key=jax.random.key(0))[
            0
        ].padding_and_patch((10, 32))


def test_bad_patch_raises_on_call(lsm2d):
    model, state = filled(lambda: eqx.nn.make_with_state(LSM)(1, 2, width=8, patch=3, key=rbg_key(1)), 1)
    with pytest.raises(ValueError, match="patch"):
        apply_batch(model, state, jnp.zeros((2, 1, 32, 32)))  # coarsest map 2x2


# ------------------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------------------


def test_bad_input_on_call(lsm2d):
    model, state = lsm2d
    with pytest.raises(ValueError, match="in_channels=1"):
        apply_batch(model, state, jnp.zeros((2, 3, 32, 32)))
    with pytest.raises(ValueError, match="spatial axes"):
        apply_batch(model, state, jnp.zeros((2, 1, 32)))
    with pytest.raises(ValueError, match="spatial axes"):
        model(jnp.zeros((2, 1, 32, 32)), state)  # a batch given to the single-sample call


def test_one_sample_in_training_mode_raises(lsm2d):
    # BatchNorm averages over the batch: one sample in training mode is refused, eagerly and under jit
    model, state = lsm2d
    x = jnp.zeros((1, 32, 32))
    match = r"BatchNorm in training mode needs the batch.*apply_batch\(model, state, x\).*inference_mode"
    with pytest.raises(ValueError, match=match):
        model(x, state)
    with pytest.raises(ValueError, match=match):
        eqx.filter_jit(lambda m, s, x: m(x, s))(model, state, x)
    with pytest.raises(ValueError, match="looks like one sample"):
        apply_batch(model, state, x)
    with pytest.raises(TypeError, match=r"`state`.*apply_batch\(model, state, x\)"):
        apply_batch(model, x[None], state)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(width=-8), ValueError, "width"),
        (dict(width=0), ValueError, "width"),
        (dict(width=12), ValueError, "n_heads"),
        (dict(width=8.0), TypeError, "width"),
        (dict(ndim=4), ValueError, "ndim"),
        (dict(n_heads=0), ValueError, "n_heads"),
        (dict(num_token=0), ValueError, "num_token"),
        (dict(num_basis=-1), ValueError, "num_basis"),
        (dict(patch=(2, 2, 2)), ValueError, "patch"),
        (dict(patch=0), ValueError, "patch"),
        (dict(padding=-1), ValueError, "padding"),
        (dict(in_channels=0), ValueError, "in_channels"),
        (dict(out_channels=0), ValueError, "out_channels"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    args = dict(in_channels=1, out_channels=1, width=8, key=jax.random.key(0)) | kwargs
    c_in, c_out = args.pop("in_channels"), args.pop("out_channels")
    with pytest.raises(error, match=match):
        LSM(c_in, c_out, **args)
