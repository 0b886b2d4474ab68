"""The random initial conditions of PDEBench's 1-D generators (`init_multi`), one sample per key.

PDEBench draws every 1-D initial condition (advection, Burgers, diffusion-reaction) as a sum of a few
sinusoids, then applies a random absolute value, sign and window. The recipe, with the quirks of the
original kept (and switchable where they change the data):

1. Draw `num_choice_k` integers uniformly from `{0, ..., k_tot - 1}` (with replacement) and count how
   often each mode `k = 1..k_tot` was drawn: `n_k in {0, 1, ..., num_choice_k}`.
2. `u(x) = sum_k A_k sin(2 pi k n_k x / L + phi_k)`, with `A_k ~ U(0, 1)`, `phi_k ~ U(0, 2 pi)` for *all*
   `k_tot` modes. Quirks: a mode that was not drawn (`n_k = 0`) still adds the constant `A_k sin(phi_k)`;
   a mode drawn twice gets the doubled wave number `2k` (it is not drawn "twice as strong"); and the
   period is `L = xc[-1] - xc[0] = 1 - dx` (PDEBench), not the domain length `1`, so the data are not
   exactly periodic on the grid (a jump of order `dx` at the boundary). `exact_period=True` uses
   `L = n dx` instead.
3. With probability `p_abs` (0.1) take `|u|`; then multiply by a random sign `+-1`.
4. With probability `p_window` (0.1) multiply by the window
   `(tanh((x - x_L) / 0.01) - tanh((x - x_R) / 0.01)) / 2`, `x_L ~ U(0.1, 0.45)`, `x_R ~ U(0.55, 0.9)`.

The random stream differs from PDEBench's (which reuses one key for several draws and draws all
samples at once from `init_key = 2022`): here every draw has its own sub-key of the sample's `key`, so
the distribution is the same but the individual samples are not.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.validate import check_bool, check_int, check_key, check_number

__all__ = ["pdebench_initial_condition"]


def pdebench_initial_condition(
    xc: Float[Array, " n"],
    *,
    key: PRNGKeyArray,
    k_tot: int = 4,
    num_choice_k: int = 2,
    exact_period: bool = False,
    p_abs: float = 0.1,
    p_window: float = 0.1,
) -> Float[Array, " n"]:
    """One random initial condition of PDEBench's 1-D generators (`init_multi`) on the cell centres `xc`.

    See the module docstring for the recipe and its quirks. Pure (jit and vmap over `key` go through it);
    the output has the dtype of `xc`. The values are bounded by `|u| < k_tot` (every mode adds at most
    `A_k < 1`).

    **Arguments:**

    - `xc`: the cell centres, a 1-D array of at least 2 points (PDEBench: `xc_i = (i + 1/2) / n` on `[0, 1)`).
    - `key`: a PRNG key (keyword-only).
    - `k_tot`: the number of candidate modes `k = 1..k_tot` (PDEBench: 4 for advection and Burgers).
    - `num_choice_k`: how many modes are drawn, with replacement (PDEBench: 2).
    - `exact_period`: use the period `n dx` (periodic data) instead of PDEBench's `xc[-1] - xc[0]`.
    - `p_abs`: probability of taking the absolute value (PDEBench: 0.1).
    - `p_window`: probability of the tanh window (PDEBench: 0.1).
    """
    key = check_key(key)
    k_tot = check_int("k_tot", k_tot)
    num_choice_k = check_int("num_choice_k", num_choice_k)
    exact_period = check_bool("exact_period", exact_period)
    p_abs = check_number("p_abs", p_abs, low=0, high=1)
    p_window = check_number("p_window", p_window, low=0, high=1)
    xc = jnp.asarray(xc)
    if xc.ndim != 1 or xc.shape[0] < 2:
        raise ValueError(f"`xc` must be a 1-D array of at least 2 cell centres, got shape {xc.shape}")
    if not jnp.issubdtype(xc.dtype, jnp.floating):
        raise TypeError(f"`xc` must be a floating array, got dtype {xc.dtype}")
    dtype = xc.dtype
    n = xc.shape[0]

    k_sel, k_amp, k_phs, k_abs, k_sgn, k_win, k_xl, k_xr = jax.random.split(key, 8)
    selected = jax.random.randint(k_sel, (num_choice_k,), 0, k_tot)
    counts = jnp.sum(jax.nn.one_hot(selected, k_tot, dtype=dtype), axis=0)  # n_k, (k_tot,)
    period = (xc[1] - xc[0]) * n if exact_period else xc[-1] - xc[0]
    wavenumber = 2 * jnp.pi * jnp.arange(1, k_tot + 1, dtype=dtype) * counts / period
    amp = jax.random.uniform(k_amp, (k_tot,), dtype)
    phase = 2 * jnp.pi * jax.random.uniform(k_phs, (k_tot,), dtype)
    u = jnp.sum(amp[:, None] * jnp.sin(wavenumber[:, None] * xc[None, :] + phase[:, None]), axis=0)

    u = jnp.where(jax.random.bernoulli(k_abs, p_abs), jnp.abs(u), u)
    u = u * jnp.where(jax.random.bernoulli(k_sgn, 0.5), 1, -1).astype(dtype)

    x_left = jax.random.uniform(k_xl, (), dtype, 0.1, 0.45)
    x_right = jax.random.uniform(k_xr, (), dtype, 0.55, 0.9)
    width = 0.01
    window = 0.5 * (jnp.tanh((xc - x_left) / width) - jnp.tanh((xc - x_right) / width))
    return jnp.where(jax.random.bernoulli(k_win, p_window), u * window, u)
