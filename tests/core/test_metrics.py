"""Tests for scimlx.core.metrics against numpy re-implementations of the documented definitions."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.core.metrics import (
    boundary_rmse,
    fourier_band_rmse,
    fourier_shell_rmse,
    max_error,
    nrmse,
    rel_l2,
    rmse,
)

RTOL = 1e-5


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _pair(rng, shape):
    true = rng.normal(size=shape).astype(np.float32)
    pred = (true + 0.3 * rng.normal(size=shape)).astype(np.float32)
    return pred, true


# ------------------------------------------------------------------------------------------------
# rel_l2
# ------------------------------------------------------------------------------------------------


def test_rel_l2_matches_numpy(rng):
    pred, true = _pair(rng, (5, 2, 8, 6))
    per = np.array([np.linalg.norm(pred[n] - true[n]) / np.linalg.norm(true[n]) for n in range(5)])
    np.testing.assert_allclose(rel_l2(pred, true), per.mean(), rtol=RTOL)
    np.testing.assert_allclose(rel_l2(pred, true, reduction="sum"), per.sum(), rtol=RTOL)
    none = rel_l2(pred, true, reduction="none")
    assert none.shape == (5,)
    np.testing.assert_allclose(none, per, rtol=RTOL)
    # (N, *spatial) works as well
    np.testing.assert_allclose(rel_l2(pred[:, 0], true[:, 0]), rel_l2(pred[:, :1], true[:, :1]))


def test_rel_l2_is_per_sample_not_global():
    true = np.ones((2, 1, 10), np.float32)
    true[0] *= 1000.0
    pred = true + 0.1  # same absolute error on both samples
    # sample 0: 0.1/1000 = 1e-4; sample 1: 0.1/1 = 0.1 -> mean 0.05005
    np.testing.assert_allclose(rel_l2(pred, true), 0.5 * (1e-4 + 0.1), rtol=RTOL)
    global_ratio = np.linalg.norm(pred - true) / np.linalg.norm(true)
    assert global_ratio < 2e-4


# ------------------------------------------------------------------------------------------------
# rmse / nrmse / max_error / boundary_rmse
# ------------------------------------------------------------------------------------------------


def _np_rmse(pred, true):  # (N, C, *spatial)
    n, c = pred.shape[:2]
    e = (pred - true).reshape(n, c, -1)
    return np.sqrt(np.mean(e**2, axis=-1)).mean()


def _np_nrmse(pred, true):
    n, c = pred.shape[:2]
    e = (pred - true).reshape(n, c, -1)
    t = true.reshape(n, c, -1)
    return (np.sqrt(np.mean(e**2, axis=-1)) / np.sqrt(np.mean(t**2, axis=-1))).mean()


def test_rmse_and_nrmse_match_numpy(rng):
    true = rng.normal(size=(4, 3, 7, 5)).astype(np.float32)
    # very different channel scales and relative errors: nrmse normalises each channel on its own
    scale = np.array([1.0, 100.0, 0.01], np.float32)[None, :, None, None]
    rel = np.array([0.1, 0.01, 1.0], np.float32)[None, :, None, None]
    true = true * scale
    pred = (true + rel * scale * rng.normal(size=true.shape)).astype(np.float32)
    np.testing.assert_allclose(rmse(pred, true), _np_rmse(pred, true), rtol=RTOL)
    np.testing.assert_allclose(nrmse(pred, true), _np_nrmse(pred, true), rtol=RTOL)
    # channels-last via channel_axis=-1
    pred_cl, true_cl = np.moveaxis(pred, 1, -1), np.moveaxis(true, 1, -1)
    np.testing.assert_allclose(
        nrmse(pred_cl, true_cl, channel_axis=-1), nrmse(pred, true), rtol=RTOL
    )
    np.testing.assert_allclose(rmse(pred_cl, true_cl, channel_axis=-1), rmse(pred, true), rtol=RTOL)
    # nrmse ~ mean(0.1, 0.01, 1) while rel_l2 is dominated by the large channel (~0.01)
    assert 0.3 < float(nrmse(pred, true)) < 0.45
    assert float(rel_l2(pred, true)) < 0.02
    # with no channel axis nrmse is rel_l2
    np.testing.assert_allclose(nrmse(pred, true, channel_axis=None), rel_l2(pred, true), rtol=RTOL)
    r1 = rmse(pred[:, 0], true[:, 0], channel_axis=None)
    np.testing.assert_allclose(r1, _np_rmse(pred[:, :1], true[:, :1]), rtol=RTOL)


def test_rmse_is_mean_of_per_sample_rmse():
    true = np.zeros((2, 1, 4), np.float32)
    pred = true.copy()
    pred[0] = 3.0  # rmse 3
    pred[1] = 1.0  # rmse 1
    np.testing.assert_allclose(rmse(pred, true), 2.0, rtol=RTOL)  # pooled would be sqrt(5)


def test_max_error(rng):
    pred, true = _pair(rng, (3, 2, 9))
    pred[1, 1, 4] = true[1, 1, 4] - 7.5
    np.testing.assert_allclose(max_error(pred, true), 7.5, rtol=RTOL)
    per_channel = np.abs(pred - true).max(axis=(0, 2))
    assert per_channel[1] == pytest.approx(7.5)
    np.testing.assert_allclose(max_error(pred, true, channel_axis=1), per_channel.mean(), rtol=RTOL)


def test_boundary_rmse_1d_and_2d(rng):
    pred, true = _pair(rng, (3, 2, 11))
    e = pred - true
    ref1 = np.sqrt((e[..., 0] ** 2 + e[..., -1] ** 2) / 2).mean()
    np.testing.assert_allclose(boundary_rmse(pred, true), ref1, rtol=RTOL)

    pred, true = _pair(rng, (3, 2, 6, 9))
    e2 = (pred - true) ** 2
    nx, ny = 6, 9
    s = np.zeros((3, 2))
    for i in range(nx):
        for j in range(ny):
            # each point counts once per face it lies on (corners twice)
            s += e2[:, :, i, j] * ((i in (0, nx - 1)) + (j in (0, ny - 1)))
    ref2 = np.sqrt(s / (2 * nx + 2 * ny)).mean()
    np.testing.assert_allclose(boundary_rmse(pred, true), ref2, rtol=RTOL)
    # an error strictly inside the grid does not count
    inner = true.copy()
    inner[:, :, 1:-1, 1:-1] += 5.0
    np.testing.assert_allclose(boundary_rmse(inner, true), 0.0, atol=1e-7)


# ------------------------------------------------------------------------------------------------
# Fourier shells and bands
# ------------------------------------------------------------------------------------------------


def _mode(shape, k, amp=1.0):
    """amp * sin(2 pi k.x) on the unit periodic grid of `shape`."""
    grids = np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij")
    phase = sum(ki * g for ki, g in zip(k, grids))
    return (amp * np.sin(2 * np.pi * phase)).astype(np.float32)


def _bands_of(shell, n_shells, lo=4, hi=12):
    return "low" if shell < lo else ("mid" if shell < hi else "high")


@pytest.mark.parametrize(
    "shape, k",
    [
        ((64,), (3,)),  # low
        ((64,), (9,)),  # mid
        ((64,), (20,)),  # high
        ((32, 32), (1, 2)),  # |k| = 2.24 -> shell 2, low
        ((32, 32), (5, -6)),  # |k| = 7.81 -> shell 7, mid
        ((32, 32), (-10, 9)),  # |k| = 13.5 -> shell 13, high
        ((16, 16, 16), (2, 2, 2)),  # |k| = 3.46 -> shell 3, low
        ((16, 16, 16), (5, 0, -5)),  # |k| = 7.07 -> shell 7, mid
    ],
)
def test_single_mode_lands_in_its_band(shape, k):
    amp = 2.5
    err = _mode(shape, k, amp)[None, None]
    err = np.concatenate([err, err], axis=1)  # two identical channels
    true = np.zeros_like(err)
    spec = np.asarray(fourier_shell_rmse(err, true))
    shell = math.floor(math.sqrt(sum(ki**2 for ki in k)))
    n_shells = math.isqrt(sum((n // 2) ** 2 for n in shape)) + 1
    assert spec.shape == (2, n_shells)
    # a pure mode puts its RMS, amp/sqrt(2), into exactly its shell
    np.testing.assert_allclose(spec[:, shell], amp / np.sqrt(2), rtol=1e-4)
    assert np.abs(np.delete(spec, shell, axis=1)).max() < 1e-5 * amp

    bands = fourier_band_rmse(err, true)
    edges = {"low": (0, 4), "mid": (4, 12), "high": (12, n_shells)}
    target = _bands_of(shell, n_shells)
    width = edges[target][1] - edges[target][0]
    for name, value in bands.items():
        if name == target:
            np.testing.assert_allclose(value, amp / np.sqrt(2) / width, rtol=1e-4)
        else:
            assert abs(float(value)) < 1e-5 * amp


def test_parseval_full_convention(rng):
    for shape in [(4, 2, 33), (3, 2, 12, 10), (2, 1, 6, 5, 8)]:
        pred, true = _pair(rng, shape)
        spec = np.asarray(fourier_shell_rmse(pred, true))  # (C, shells)
        mse = np.mean((pred - true).reshape(shape[0], shape[1], -1) ** 2, axis=-1).mean(axis=0)
        np.testing.assert_allclose((spec**2).sum(axis=-1), mse, rtol=1e-4)


def _np_pdebench_shells(pred, true):
    """PDEBench's binning, written out from its definition: (N, C, *spatial) -> (C, shells)."""
    nb, nc = pred.shape[:2]
    space = pred.shape[2:]
    if len(space) == 1:
        nx = space[0]
        df = np.fft.rfft(pred, axis=2) - np.fft.rfft(true, axis=2)
        return np.sqrt(np.mean(np.abs(df) ** 2, axis=0)) / nx
    nx, ny = space
    df = np.abs(np.fft.fftn(pred, axes=(2, 3)) - np.fft.fftn(true, axes=(2, 3))) ** 2
    ns = min(nx // 2, ny // 2)
    acc = np.zeros((nb, nc, ns))
    for i in range(nx // 2):
        for j in range(ny // 2):
            it = math.floor(math.sqrt(i**2 + j**2))
            if it <= ns - 1:
                acc[:, :, it] += df[:, :, i, j]
    return np.sqrt(acc.mean(axis=0)) / (nx * ny)


@pytest.mark.parametrize("shape", [(3, 2, 40), (3, 2, 41), (2, 2, 36, 28), (2, 1, 29, 31)])
def test_pdebench_convention_matches_reference(rng, shape):
    pred, true = _pair(rng, shape)
    ref = _np_pdebench_shells(pred.astype(np.float64), true.astype(np.float64))
    spec = fourier_shell_rmse(pred, true, convention="pdebench")
    np.testing.assert_allclose(spec, ref, rtol=1e-4, atol=1e-7)
    bands = fourier_band_rmse(pred, true, convention="pdebench")
    np.testing.assert_allclose(bands["low"], ref[:, :4].mean(), rtol=1e-4)
    np.testing.assert_allclose(bands["mid"], ref[:, 4:12].mean(), rtol=1e-4)
    np.testing.assert_allclose(bands["high"], ref[:, 12:].mean(), rtol=1e-4)


def test_pdebench_convention_quirks():
    # 1-D: the rfft bin holds amp/2, not the RMS amp/sqrt(2)
    err = _mode((64,), (5,), 2.0)[None, None]
    spec = fourier_shell_rmse(err, np.zeros_like(err), convention="pdebench")
    np.testing.assert_allclose(spec[0, 5], 1.0, rtol=1e-4)
    # 2-D: a mode in the (+, -) quadrant is invisible to PDEBench's non-negative block
    err = _mode((32, 32), (3, -2))[None, None]
    zero = np.zeros_like(err)
    assert float(jnp.max(fourier_shell_rmse(err, zero, convention="pdebench"))) < 1e-6
    assert float(jnp.max(fourier_shell_rmse(err, zero))) > 0.7


def test_fourier_spatial_axes_and_time_axis(rng):
    # (N, *spatial) via explicit spatial_axes equals the single-channel (N, 1, *spatial) default
    pred, true = _pair(rng, (3, 12, 10))
    a = fourier_band_rmse(pred, true, spatial_axes=(1, 2))
    b = fourier_band_rmse(pred[:, None], true[:, None])
    for k in ("low", "mid", "high"):
        np.testing.assert_allclose(a[k], b[k], rtol=RTOL)
    # a time axis left out of spatial_axes is kept apart, like a channel
    pred, true = _pair(rng, (3, 2, 5, 16))
    spec = fourier_shell_rmse(pred, true, spatial_axes=(-1,))
    assert spec.shape == (2, 5, 9)
    merged = fourier_shell_rmse(pred.reshape(3, 10, 16), true.reshape(3, 10, 16))
    np.testing.assert_allclose(np.asarray(spec).reshape(10, 9), merged, rtol=RTOL)


def test_empty_band_is_nan():
    err = _mode((16,), (2,))[None, None]  # 9 shells: nothing at or above 12
    bands = fourier_band_rmse(err, np.zeros_like(err))
    assert np.isnan(bands["high"])
    assert np.isfinite(bands["low"]) and float(bands["low"]) > 0.1


# ------------------------------------------------------------------------------------------------
# jit / vmap
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_jit_and_vmap(rng):
    pred, true = _pair(rng, (4, 2, 16, 12))
    for fn in (rel_l2, rmse, nrmse, max_error, boundary_rmse):
        np.testing.assert_allclose(jax.jit(fn)(pred, true), fn(pred, true), rtol=RTOL)
    jr = jax.jit(functools.partial(rel_l2, reduction="none"))
    np.testing.assert_allclose(jr(pred, true), rel_l2(pred, true, reduction="none"), rtol=RTOL)
    jb = jax.jit(fourier_band_rmse, static_argnames=("bands", "spatial_axes", "convention"))
    out = jb(pred, true, bands=(2, 5), spatial_axes=(2, 3))
    ref = fourier_band_rmse(pred, true, bands=(2, 5), spatial_axes=(2, 3))
    for k in ("low", "mid", "high"):
        np.testing.assert_allclose(out[k], ref[k], rtol=RTOL)

    stack_p, stack_t = _pair(rng, (3, 4, 2, 16))  # 3 independent batches
    mid = lambda p, t: fourier_band_rmse(p, t)["mid"]
    for fn in (rel_l2, nrmse, max_error, boundary_rmse, mid):
        v = jax.vmap(fn)(stack_p, stack_t)
        assert v.shape == (3,)
        np.testing.assert_allclose(v, [fn(stack_p[i], stack_t[i]) for i in range(3)], rtol=RTOL)


# ------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------


def test_validation_errors():
    a = np.ones((2, 3, 8), np.float32)
    with pytest.raises(ValueError, match="`pred` and `true` must have the same shape"):
        rel_l2(a, a[:, :2])
    with pytest.raises(ValueError, match="`pred`.*batch"):
        rel_l2(a[0, 0], a[0, 0])  # a single unbatched field
    with pytest.raises(ValueError, match="`reduction`"):
        rel_l2(a, a, reduction="avg")
    with pytest.raises(ValueError, match=r"`pred`.*\(N, C, \*spatial\)"):
        nrmse(a[:, 0], a[:, 0])  # (N, X) needs channel_axis=None
    with pytest.raises(ValueError, match="`channel_axis`"):
        rmse(a, a, channel_axis=0)
    with pytest.raises(ValueError, match="`channel_axis`"):
        max_error(a, a, channel_axis=3)
    with pytest.raises(ValueError, match="`pred`"):
        boundary_rmse(a[:, 0], a[:, 0])
    with pytest.raises(ValueError, match="`spatial_axes`"):
        fourier_band_rmse(a[:, 0], a[:, 0])  # default needs (N, C, *spatial)
    with pytest.raises(ValueError, match="`spatial_axes`"):
        fourier_band_rmse(a, a, spatial_axes=(0, 2))
    with pytest.raises(ValueError, match="`spatial_axes`"):
        fourier_band_rmse(a, a, spatial_axes=(2, -1))
    with pytest.raises(ValueError, match="`bands`"):
        fourier_band_rmse(a, a, bands=(12, 4))
    with pytest.raises(ValueError, match="`bands`"):
        fourier_band_rmse(a, a, bands=(4,))
    with pytest.raises(ValueError, match="`convention`"):
        fourier_shell_rmse(a, a, convention="half")
