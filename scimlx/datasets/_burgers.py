"""1-D viscous Burgers on the periodic unit interval: the FNO data recipe (GRF initial condition, ETDRK4).

The equation is

    u_t + (u^2 / 2)_x = nu u_xx   on [0, 1) periodic,

solved Fourier pseudo-spectrally on the grid `x_i = i / s`: the viscous term is integrated exactly and
the conservative flux `-(u^2 / 2)_x` by ETDRK4 ([`scimlx.core.stepping.ETDRK`][], contour-integral
coefficients), the scheme of chebfun's `spin` that made the FNO data (`dt = 1e-4`). The product `u^2`
is formed on the grid and, by default, low-passed with the 2/3 rule
([`scimlx.core.stepping.dealias_mask`][]). chebfun does not dealias; at the paper's `nu = 0.1` the
modes above the 2/3 cut-off are damped to nothing within one step, so the mask changes the result
by round-off only (measured: relative 1e-16 at 1024 points in float64); it removes the aliasing of
the quadratic flux when smaller viscosities bring fronts to the grid scale.

The initial condition follows FNO's `GRF1` (periodic, zero mean):
`u0 = sum_{k=1..N} lam_k (xi_k cos 2 pi k x + eta_k sin 2 pi k x)` with
`lam_k = sqrt(2) sigma ((2 pi k)^2 + tau^2)^(-gamma / 2)` and independent standard normals
`xi_k, eta_k`, `N = s / 2` modes of the grid it is drawn on. The FNO paper's values
`gamma = 2, tau = 5, sigma = 25` are the default: then `u0 ~ N(0, 625 (-Lap + 25)^(-2))` exactly
(the `sqrt(2)` normalises the cosine and sine basis in `L^2(0, 1)`); the FNO script `gen_burgers1.m`
used `gamma = 2.5, tau = 7, sigma = 49` (and `nu = 1e-3`): pass those to reproduce it.

The recipe `burgers_1d` maps `u0` to `u(t_final = 1)`: it stores `"u0"` `(s,)` and `"u"` (`(s,)`, or
`(n_records, s)` with `n_records > 0` snapshots at `t_final * (j + 1) / n_records`). The paper data are
computed on 8192 points and subsampled to `s = 1024` (and coarser), with chebfun's `dt = 1e-4`
(preset `"paper"`); the CPU default computes 1024 points directly with `dt = 1e-3`. At `nu = 0.1`
the time-stepping error of `dt = 1e-3` (relative 1e-7 at `t = 1`, measured in float64 against
`dt = 1e-4`) is far below float32 rounding, and fewer steps accumulate less of it: against a float64
reference a float32 run has a relative error of about 1.4e-5 with `dt = 1e-3` but 1.7e-4 with
`dt = 1e-4` (use float64 with the paper preset when the last digits matter).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from scimlx.core.geometry import Grid
from scimlx.core.stepping import ETDRK, dealias_mask, rfft_wavenumbers, rollout
from scimlx.core.validate import check_bool, check_dtype, check_int, check_key, check_multiple, check_number

from ._recipe import Recipe

__all__ = ["RECIPE", "burgers_1d_solve", "burgers_grf", "grf1_eigenvalues"]


def grf1_eigenvalues(
    n_modes: int, *, gamma: float = 2.0, tau: float = 5.0, sigma: float = 25.0
) -> Float[np.ndarray, " n_modes"]:
    """The mode amplitudes `lam_k = sqrt(2) sigma ((2 pi k)^2 + tau^2)^(-gamma / 2)`, `k = 1..n_modes`.

    **Arguments:**

    - `n_modes`: the number of Fourier modes.
    - `gamma`, `tau`, `sigma`: smoothness, inverse length scale and amplitude of FNO's `GRF1`.
    """
    n_modes = check_int("n_modes", n_modes)
    gamma = check_number("gamma", gamma, low=0, low_open=True)
    tau = check_number("tau", tau, low=0, low_open=True)
    sigma = check_number("sigma", sigma, low=0)
    k = np.arange(1, n_modes + 1)
    return np.sqrt(2.0) * sigma * ((2 * np.pi * k) ** 2 + tau**2) ** (-gamma / 2)


def burgers_grf(
    s: int,
    *,
    gamma: float = 2.0,
    tau: float = 5.0,
    sigma: float = 25.0,
    n_modes: int | None = None,
    key: PRNGKeyArray,
    dtype=jnp.float32,
) -> Float[Array, " s"]:
    """A periodic Gaussian random field on `x_i = i / s` with FNO's `GRF1` spectrum (zero mean).

    `u = sum_{k=1..n_modes} lam_k (xi_k cos 2 pi k x + eta_k sin 2 pi k x)`, `lam_k` from
    [`scimlx.datasets.grf1_eigenvalues`][], `xi_k, eta_k` independent standard normals. With
    `n_modes = s / 2` the last term is the Nyquist mode, whose sine vanishes on the grid.

    **Arguments:**

    - `s`: the number of grid points (`>= 2`).
    - `gamma`, `tau`, `sigma`: smoothness, inverse length scale and amplitude (FNO paper: 2, 5, 25;
        FNO script: 2.5, 7, 49).
    - `n_modes`: the number of Fourier modes, at most `s // 2` (default `s // 2`, as in FNO).
    - `key`: a PRNG key (keyword-only).
    - `dtype`: the output dtype.
    """
    s = check_int("s", s, low=2)
    dtype = check_dtype("dtype", dtype)
    n_modes = s // 2 if n_modes is None else check_int("n_modes", n_modes)
    if n_modes > s // 2:
        raise ValueError(
            f"`n_modes` must be at most s // 2 = {s // 2} on a grid of {s} points, got {n_modes}"
        )
    lam = grf1_eigenvalues(n_modes, gamma=gamma, tau=tau, sigma=sigma)
    k1, k2 = jax.random.split(check_key(key))
    xi = jax.random.normal(k1, (n_modes,), dtype)
    eta = jax.random.normal(k2, (n_modes,), dtype)
    # rfft coefficients U_k = (s / 2)(a_k - i b_k) give a_k cos + b_k sin; the Nyquist mode is real (U = s a).
    scale = np.full(n_modes, s / 2.0)
    if 2 * n_modes == s:
        scale[-1] = s
    lam = jnp.asarray(lam * scale, dtype)
    coef = jnp.zeros(s // 2 + 1, jnp.result_type(dtype, jnp.complex64))
    coef = coef.at[1 : n_modes + 1].set(jax.lax.complex(lam * xi, -lam * eta))
    return jnp.fft.irfft(coef, n=s).astype(dtype)


def burgers_1d_solve(
    u0: Float[ArrayLike, " s"],
    *,
    nu: float,
    t_final: float = 1.0,
    dt: float = 1e-4,
    n_records: int | None = None,
    dealias: bool = True,
) -> Float[Array, "*n_records s"]:  # noqa: F821
    """Integrate `u_t + (u^2/2)_x = nu u_xx` on the periodic unit interval from `u0` with ETDRK4.

    Pure and traceable in `u0` (`jax.jit` and `jax.vmap` go through it); the time loop is a `lax.scan`
    over records of a `lax.fori_loop` over steps. Use float64 for errors below ~1e-6.

    **Arguments:**

    - `u0`: the initial condition `(s,)` on the grid `x_i = i / s`, `s >= 4` (any parity).
    - `nu`: the viscosity (`> 0`; FNO paper 0.1).
    - `t_final`: the final time.
    - `dt`: the time step (`t_final / n_records` must be a whole multiple of it).
    - `n_records`: `None` returns `u(t_final)` `(s,)`; an integer `T` returns `(T, s)` at
        `t_final * (j + 1) / T`.
    - `dealias`: low-pass the flux `u^2` with the 2/3 rule.
    """
    nu = check_number("nu", nu, low=0, low_open=True)
    t_final = check_number("t_final", t_final, low=0, low_open=True)
    dt = check_number("dt", dt, low=0, low_open=True)
    n_rec = check_int("n_records", n_records, optional=True)
    dealias = check_bool("dealias", dealias)
    n_sub = check_multiple("t_final / n_records" if n_rec else "t_final", t_final / (n_rec or 1), dt)
    u0 = jnp.asarray(u0)
    if u0.ndim != 1 or u0.shape[0] < 4:
        raise ValueError(f"`u0` must be a 1-D array of at least 4 grid values, got shape {u0.shape}")
    if not jnp.issubdtype(u0.dtype, jnp.floating):
        u0 = u0.astype(jnp.result_type(float))
    s = u0.shape[0]
    real = jnp.finfo(u0.dtype).dtype
    (k,) = rfft_wavenumbers((s,))
    k_d = np.where(np.abs(k) >= np.pi * s, 0.0, k) if s % 2 == 0 else k  # Nyquist: no odd derivative
    half_ik = jnp.asarray(-0.5j * k_d, jnp.result_type(real, jnp.complex64))
    mask = jnp.asarray(dealias_mask((s,))) if dealias else None

    def nonlinear(u_hat):
        flux_hat = jnp.fft.rfft(jnp.fft.irfft(u_hat, n=s) ** 2)
        if mask is not None:
            flux_hat = jnp.where(mask, flux_hat, 0)
        return half_ik * flux_hat

    step = ETDRK((-nu * k**2).astype(real), nonlinear, dt, order=4)
    traj = rollout(step, jnp.fft.rfft(u0), n_rec or 1, n_sub)
    out = jnp.fft.irfft(traj, n=s).astype(u0.dtype)
    return out if n_rec else out[0]


# ---------------------------------------------------------------------------------------------------------
# Recipe


def _validate(params: dict) -> dict:
    p = dict(params)
    p["resolution"] = check_int("resolution", p["resolution"], low=4)
    p["subsample"] = check_int("subsample", p["subsample"])
    p["nu"] = check_number("nu", p["nu"], low=0, low_open=True)
    p["t_final"] = check_number("t_final", p["t_final"], low=0, low_open=True)
    p["dt"] = check_number("dt", p["dt"], low=0, low_open=True)
    p["n_records"] = check_int("n_records", p["n_records"], low=0)
    check_multiple("t_final / n_records", p["t_final"] / max(p["n_records"], 1), p["dt"])
    p["gamma"] = check_number("gamma", p["gamma"], low=0, low_open=True)
    p["tau"] = check_number("tau", p["tau"], low=0, low_open=True)
    p["sigma"] = check_number("sigma", p["sigma"], low=0)
    p["dealias"] = check_bool("dealias", p["dealias"])
    p["chunk_size"] = check_int("chunk_size", p["chunk_size"])
    return p


def _build(params: dict, dtype):
    r = params["subsample"]
    s_fine = params["resolution"] * r

    def sample(key: PRNGKeyArray, index: Array) -> dict[str, Array]:
        del index
        u0 = burgers_grf(
            s_fine, gamma=params["gamma"], tau=params["tau"], sigma=params["sigma"], key=key, dtype=dtype
        )
        u = burgers_1d_solve(
            u0,
            nu=params["nu"],
            t_final=params["t_final"],
            dt=params["dt"],
            n_records=params["n_records"] or None,
            dealias=params["dealias"],
        )
        return {"u0": u0[::r], "u": u[..., ::r]}

    return sample


def _pairs(arrays: Mapping[str, np.ndarray], params: dict) -> tuple[np.ndarray, np.ndarray]:
    u0 = np.asarray(arrays["u0"])
    u = np.asarray(arrays["u"])
    if u.ndim == 3:  # (n, T, s): the target is the last record, u(t_final)
        u = u[:, -1]
    return u0[:, None], u[:, None]


def _grid(params: dict) -> Grid:
    return Grid(params["resolution"], periodic=True)


RECIPE = Recipe(
    name="burgers_1d",
    description="1-D viscous Burgers, periodic, GRF initial condition, u0 -> u(t=1) (FNO recipe, ETDRK4)",
    params={
        "resolution": 1024,
        "subsample": 1,
        "nu": 0.1,
        "t_final": 1.0,
        "dt": 1e-3,
        "n_records": 0,
        "gamma": 2.0,
        "tau": 5.0,
        "sigma": 25.0,
        "dealias": True,
        "chunk_size": 16,
    },
    presets={"paper": {"resolution": 1024, "subsample": 8, "dt": 1e-4, "nu": 0.1}},
    validate=_validate,
    build=_build,
    pairs=_pairs,
    grid=_grid,
    resolution_note=(
        "grid points of the stored periodic grid x_i = i / s; the solver runs at resolution * subsample "
        "points and keeps every subsample-th point"
    ),
)
