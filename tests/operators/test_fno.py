"""The Fourier Neural Operator: spectral convolution, shapes, parameter counts, discretisation invariance."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.operators._common import apply_batch
from scimlx.operators._fno import FNO, FNO_CONFIGS, SpectralConv
from scimlx.train import count_params
from tests.tiers import tiered

from .helpers import assert_gradients_finite_and_nonzero, filled, rbg_key

apply_jit = eqx.filter_jit(apply_batch)


def analytic_fno_count(in_channels, out_channels, *, ndim, modes, width, n_layers, projection=128, grid=True):
    """Parameters from the layer definitions (complex weights count as two reals)."""
    modes = (modes,) * ndim if isinstance(modes, int) else tuple(modes)
    fc0 = (in_channels + (ndim if grid else 0)) * width + width
    spectral = 2 ** (ndim - 1) * (width * width * math.prod(modes)) * 2  # corners x complex (in, out, *m)
    w = width * width + width  # Conv1x1 with bias
    fc1 = width * projection + projection
    fc2 = projection * out_channels + out_channels
    return fc0 + n_layers * (spectral + w) + fc1 + fc2


def reference_spectral_conv(sc: SpectralConv, x):
    """The reference forward: a zero spectrum filled corner by corner (`out_ft[..., :m1, :m2] = ...`)."""
    d = sc.ndim
    axes = tuple(range(1, d + 1))
    x_ft = jnp.fft.rfftn(x, axes=axes)
    out = jnp.zeros((sc.out_channels,) + x_ft.shape[1:], x_ft.dtype)
    for j, w in enumerate(sc.weights):
        idx = (slice(None),)
        for a in range(d - 1):
            m = sc.modes[a]
            idx += (slice(-m, None) if (j >> a) & 1 else slice(0, m),)
        idx += (slice(0, sc.modes[-1]),)
        out = out.at[idx].set(jnp.einsum("i...,io...->o...", x_ft[idx], w[..., 0] + 1j * w[..., 1]))
    return jnp.fft.irfftn(out, s=x.shape[1:], axes=axes)


# One small model per dimension, built once (JAX compiles each shape once per module).
SMALL = {
    1: dict(shape=(24,), modes=5, padding=0),
    2: dict(shape=(12, 10), modes=(4, 3), padding=2),
    3: dict(shape=(8, 8, 6), modes=(3, 2, 3), padding=(0, 0, 2)),
}


@pytest.fixture(scope="module")
def small_models():
    out = {}
    for d, cfg in SMALL.items():
        model, state = filled(
            lambda: eqx.nn.make_with_state(FNO)(
                2, 3, ndim=d, modes=cfg["modes"], width=6, n_layers=2, padding=cfg["padding"], projection=8,
                key=rbg_key(d),
            ),
            d,
        )  # fmt: skip
        out[d] = (model, state, cfg["shape"])
    return out


@pytest.mark.parametrize("ndim", tiered([1, 2, 3], [2]))
def test_output_shapes_every_dimension(small_models, ndim):
    model, state, shape = small_models[ndim]
    x = jax.random.normal(jax.random.key(0), (2, 2, *shape))
    y, new_state = apply_jit(model, state, x)
    assert y.shape == (2, 3, *shape)
    assert bool(jnp.all(jnp.isfinite(y)))
    y1, _ = eqx.filter_jit(model)(x[0], state)
    np.testing.assert_allclose(y1, y[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "ndim, shape",
    tiered(
        [(1, (8,)), (1, (11,)), (2, (8, 4)), (2, (9, 5)), (2, (12, 10)), (3, (6, 4, 4)), (3, (7, 5, 6))],
        [(1, (11,)), (2, (9, 5)), (3, (7, 5, 6))],
        unpack=True,
    ),  # odd sizes in the default tier
)
def test_spectral_conv_matches_reference_corner_by_corner(small_models, ndim, shape):
    """The compact gather/scatter equals the reference's per-corner writes (incl. modes at the limits)."""
    sc = small_models[ndim][0].spectral_convs[0]
    assert len(sc.weights) == 2 ** (ndim - 1)
    x = jax.random.normal(jax.random.key(2), (sc.in_channels, *shape))
    y = eqx.filter_jit(sc)(x)
    np.testing.assert_allclose(y, eqx.filter_jit(reference_spectral_conv)(sc, x), rtol=1e-5, atol=1e-6)


def test_spectral_conv_init_and_kept_modes():
    sc = SpectralConv(6, 6, (4, 3), key=rbg_key(2))  # initialised as the small 2-D model's layers
    for w in sc.weights:
        assert w.shape == (6, 6, 4, 3, 2)
        assert float(w.min()) >= 0.0 and float(w.max()) <= 1.0 / 36
    # The output spectrum vanishes outside the kept corners.
    y = eqx.filter_jit(sc)(jax.random.normal(jax.random.key(1), (6, 16, 12)))
    y_ft = np.abs(np.fft.rfftn(np.asarray(y), axes=(1, 2)))
    mask = np.zeros(y_ft.shape[1:], bool)
    mask[:4, :3] = mask[-4:, :3] = True
    mask[:, 0] |= np.roll(mask[::-1, 0], 1)  # a real output mirrors the k2 = 0 column: (k1, 0) ~ (-k1, 0)
    assert y_ft[:, ~mask].max() < 1e-5 * y_ft.max()
    assert y_ft[:, mask].min() > 0


@pytest.mark.parametrize("ndim", tiered([1, 2, 3], [1, 2]))
def test_spectral_conv_discretisation_invariance(small_models, x64, ndim):
    """A band-limited input sampled at n and 2n gives the same output at the shared points (FNO property)."""
    sc = small_models[ndim][0].spectral_convs[0]
    sc = jax.tree_util.tree_map(lambda w: np.asarray(w, np.float64), sc)
    n = 12 if ndim < 3 else 8
    band = n // 2 - 1  # strictly below the coarse Nyquist frequency, above the kept modes
    assert band >= max(sc.modes)
    rng = np.random.default_rng(0)
    ks = list(np.ndindex(*(2 * band + 1,) * ndim))
    coef = rng.normal(size=(sc.in_channels, len(ks))) + 1j * rng.normal(size=(sc.in_channels, len(ks)))

    def sample(m):
        grids = np.meshgrid(*([np.arange(m) / m] * ndim), indexing="ij")
        phase = np.stack([sum((ki - band) * g for ki, g in zip(k, grids)) for k in ks])  # (K, *grid)
        u = np.real(np.einsum("ck,k...->c...", coef, np.exp(2j * np.pi * phase)))
        return jnp.asarray(u)

    y_coarse = sc(sample(n))
    y_fine = sc(sample(2 * n))
    assert y_coarse.dtype == jnp.float64
    shared = (slice(None),) + (slice(None, None, 2),) * ndim
    scale = float(jnp.max(jnp.abs(y_coarse)))
    assert scale > 1e-3
    np.testing.assert_allclose(y_fine[shared], y_coarse, atol=1e-12 * scale, rtol=0)


def test_parameter_counts_analytic_small(small_models):
    for d, (model, _, _) in small_models.items():
        cfg = SMALL[d]
        expected = analytic_fno_count(2, 3, ndim=d, modes=cfg["modes"], width=6, n_layers=2, projection=8)
        assert count_params(model) == expected


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "darcy_2d",
            2_368_001,
        ),  # the reference FNO2d Darcy model (modes 12, width 32), complex counted twice
        ("burgers_1d", 549_569),  # FNO1d, modes 16, width 64
        ("navier_stokes_2d", 926_357),  # FNO2d time, 12 -> 20 lift, modes 12, width 20
        ("navier_stokes_3d", 6_558_377),  # FNO3d, modes 8, width 20
    ],
)
def test_parameter_counts_reference_configs(name, expected):
    cfg = FNO_CONFIGS[name]
    model = eqx.filter_eval_shape(FNO, **cfg, key=jax.random.key(0))
    n = sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(model))
    assert n == expected
    keys = ("ndim", "modes", "width", "n_layers")
    assert (
        analytic_fno_count(cfg["in_channels"], cfg["out_channels"], **{k: cfg[k] for k in keys}) == expected
    )


@pytest.mark.slow
def test_gradients_finite_and_nonzero_for_every_leaf(small_models):
    model, state, shape = small_models[2]
    x = jax.random.normal(jax.random.key(5), (2, 2, *shape))
    target = jax.random.normal(jax.random.key(6), (2, 3, *shape))
    assert_gradients_finite_and_nonzero(model, state, x, target)


@pytest.mark.slow
def test_jit_and_inference_mode_leave_state_unchanged(small_models):
    model, state, shape = small_models[3]
    x = jax.random.normal(jax.random.key(7), (2, 2, *shape))
    y_eager, s1 = apply_batch(model, state, x)
    y_jit, s2 = eqx.filter_jit(apply_batch)(model, state, x, inference=True)
    np.testing.assert_allclose(y_jit, y_eager, rtol=1e-5, atol=1e-6)
    assert jax.tree_util.tree_leaves((s1, s2)) == jax.tree_util.tree_leaves(state) == []


def test_grid_is_appended():
    kw = dict(ndim=2, modes=3, width=4, n_layers=1, projection=4, key=jax.random.key(0))
    assert eqx.filter_eval_shape(FNO, 1, 1, append_grid=False, **kw).fc0.weight.shape == (4, 1, 1, 1)
    assert eqx.filter_eval_shape(FNO, 1, 1, **kw).fc0.weight.shape == (4, 3, 1, 1)


def test_bad_input():
    key = rbg_key(0)
    model = FNO(2, 1, ndim=2, modes=4, width=4, n_layers=1, projection=4, key=key)
    with pytest.raises(ValueError, match="in_channels=2"):
        model(jnp.zeros((3, 16, 16)), None)
    with pytest.raises(ValueError, match="2 spatial axes"):
        model(jnp.zeros((2, 16)), None)
    with pytest.raises(ValueError, match="2 spatial axes"):
        model(jnp.zeros((1, 2, 16, 16)), None)  # a batch passed directly
    with pytest.raises(ValueError, match="too coarse for modes"):
        model(jnp.zeros((2, 7, 16)), None)  # 4 > 7 // 2
    with pytest.raises(ValueError, match="too coarse for modes"):
        SpectralConv(2, 2, 5, ndim=1, key=key)(jnp.zeros((2, 7)))  # 5 > 7 // 2 + 1
    # Padding makes room for the modes.
    y, _ = FNO(2, 1, modes=4, width=4, n_layers=1, projection=4, padding=2, key=key)(
        jnp.zeros((2, 6, 6)), None
    )
    assert y.shape == (1, 6, 6)
    with pytest.raises(ValueError, match="width"):
        FNO(1, 1, width=-4, key=key)
    with pytest.raises(ValueError, match="modes"):
        FNO(1, 1, modes=0, key=key)
    with pytest.raises(ValueError, match="modes"):
        FNO(1, 1, ndim=3, modes=(4, 4), key=key)
    with pytest.raises(ValueError, match="ndim"):
        FNO(1, 1, ndim=4, key=key)
    with pytest.raises(ValueError, match="padding"):
        FNO(1, 1, padding=-1, key=key)
    with pytest.raises(ValueError, match="in_channels"):
        FNO(0, 1, key=key)
    with pytest.raises(TypeError, match="width"):
        FNO(1, 1, width=3.5, key=key)
    with pytest.raises(TypeError, match="key"):
        FNO(1, 1, key=0)
    with pytest.raises(ValueError, match="modes"):
        SpectralConv(2, 2, (4, 4), ndim=3, key=key)


_DFT_CASES = [
    ((3, 17), (5,)),
    ((3, 16), (9,)),  # a Nyquist mode on the one-sided axis
    ((2, 10, 12), (4, 7)),
    ((2, 9, 8), (3, 5)),
    ((2, 6, 8, 10), (3, 2, 6)),
]


@pytest.mark.parametrize("shape,modes", tiered(_DFT_CASES, _DFT_CASES[1:3], unpack=True))
def test_truncated_dft_equals_the_ffts_values_and_gradients(shape, modes, monkeypatch):
    """The kept modes by DFT matrices (fast on the CPU for few modes) against `rfftn`/`irfftn`, including a
    Nyquist mode on the one-sided axis (16 points, 9 modes); float64."""
    import scimlx.operators._fno as fno_module

    with jax.enable_x64(True):
        x = jnp.asarray(np.random.default_rng(len(shape)).standard_normal(shape))
        layer = SpectralConv(shape[0], 4, modes, key=jax.random.key(0))
        layer = jax.tree.map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, layer)

        def value_and_grads():
            return jax.value_and_grad(lambda s, x: jnp.sum(jnp.sin(s(x))), argnums=(0, 1))(layer, x)

        results = {}
        for dft in (False, True):
            monkeypatch.setattr(fno_module, "_use_dft", lambda *a, dft=dft: dft)
            results[dft] = value_and_grads()
        diffs = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), results[False], results[True])
        assert max(jax.tree.leaves(diffs)) < 1e-12


def test_truncated_dft_is_used_for_few_modes_only():
    from scimlx.operators._fno import _use_dft

    assert _use_dft((94, 94), (12, 12))  # Darcy, padded: 36 kept against 8 log2(N) = 105
    assert _use_dft((64, 64, 46), (8, 8, 8))
    assert not _use_dft((64, 64), (32, 33))  # every mode kept: the FFTs
