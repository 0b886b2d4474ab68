"""The deep conjugate direction method (Kaneda et al., ICML 2023): the solver, its network, its loss."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from scimlx.core.linalg import SolveResult, as_operator, check_symmetric, warn_breakdown
from scimlx.core.validate import (
    check_callable,
    check_choice,
    check_int,
    check_key,
    check_number,
    check_shape,
)


def _norm(x: Array) -> Array:
    return jnp.sqrt(jnp.sum(x * x))


def _direction(model: Callable[[Array], Array], r: Array) -> Array:
    """The model's direction for a grid-shaped `r`: models take and return one channels-first sample
    `(1, *shape)`."""
    return model(r[None])[0]


_ZERO_DIRECTION, _CURVATURE, _NONFINITE = 1, 2, 3  # why DCDM broke down (0: it did not)
_REASONS = {
    _ZERO_DIRECTION: "the model's direction q (after A-orthogonalisation and the mask) is zero",
    _CURVATURE: "the curvature qᵀAq along the model's direction is not positive, so `A` is not positive "
    "definite on it (indefinite, or the direction lies in its null space)",
    _NONFINITE: "a non-finite direction, curvature, step or residual (inf/NaN from the model, `A`, `b` or "
    "`x0`)",
}


def _dcdm_step(model, op, b, m, b_norm, carry, config):
    """One DCDM iteration (`config = (input_scale, n_orth, k_orth, dtype)`); a breakdown keeps the old
    iterate and sets the code, the carry's last entry."""
    input_scale, n_orth, k_orth, dtype = config
    k, x, r, P, AP, pAp, rel, history, _ = carry
    rn = _norm(r)
    q = jnp.asarray(_direction(model, input_scale * r / jnp.where(rn == 0, 1, rn)), dtype)
    if m is not None:
        q = q * m
    if n_orth > 0:
        coef = jnp.einsum("k...,...->k", AP, q) / pAp
        q = q - jnp.einsum("k,k...->...", coef, P)
    Aq = op.mv(q).astype(dtype)
    qAq = jnp.sum(q * Aq)
    alpha = jnp.sum(q * r) / qAq
    x_new = x + alpha * q
    r_new = b - op.mv(x_new).astype(dtype)
    rel_new = _norm(r_new) / b_norm
    qq = jnp.sum(q * q)
    step_finite = jnp.isfinite(alpha) & jnp.isfinite(rel_new)
    code = jnp.where(qq == 0, _ZERO_DIRECTION, 0)
    code = jnp.where((code == 0) & ~(jnp.isfinite(qq) & jnp.isfinite(qAq)), _NONFINITE, code)
    code = jnp.where((code == 0) & ~(qAq > 0), _CURVATURE, code)
    code = jnp.where((code == 0) & ~step_finite, _NONFINITE, code).astype(jnp.int32)
    accept = code == 0
    slot = jnp.where(accept, k % k_orth, k_orth)  # out of range after a breakdown: the update is dropped
    P, AP = P.at[slot].set(q, mode="drop"), AP.at[slot].set(Aq, mode="drop")
    pAp = pAp.at[slot].set(qAq, mode="drop")
    x, r, rel = (jnp.where(accept, new, old) for new, old in ((x_new, x), (r_new, r), (rel_new, rel)))
    k = k + accept.astype(k.dtype)
    return k, x, r, P, AP, pAp, rel, history.at[k].set(rel), code


_dcdm_step_jit = eqx.filter_jit(_dcdm_step)


def dcdm(
    A: Any,
    b: Float[ArrayLike, "*shape"],
    model: Callable[[Array], Array],
    *,
    tol: float = 1e-4,
    max_iter: int = 100,
    n_orth: int = 2,
    x0: Float[ArrayLike, "*shape"] | None = None,
    mask: Float[ArrayLike, "*shape"] | None = None,
    input_scale: float = 1.0,
    host_loop: bool | None = None,
) -> SolveResult:
    """Solve the symmetric positive (semi-)definite system `A x = b` by the deep conjugate direction method.

    Each iteration, as the reference implementation: the model maps the normalised residual `r / ‖r‖` to a
    direction `q`, which is A-orthogonalised against the last `n_orth` directions (`q ← q - Σ (qᵀAp_j /
    p_jᵀAp_j) p_j`); the step is the exact line search `α = pᵀr / pᵀAp`, and the residual is recomputed as
    `b - A x` (two products with `A` per iteration). Iteration stops at `‖r‖ / ‖b‖ <= tol`, the stopping test
    of [`cg`][scimlx.solvers.cg].

    **Arguments:**

    - `A`: the operator (a [`LinearOperator`][scimlx.core.LinearOperator], or a matrix: see `as_operator`).
    - `b`: the right-hand side, of the operator's shape.
    - `model`: a function of one channels-first sample `(1, *shape)` (the residual, `shape` the operator's)
        returning `(1, *shape)`: a trained [`DCDMNet`][scimlx.solvers.DCDMNet], or any approximate inverse
        (its scale does not matter). `dcdm` adds and removes the channel axis itself.
    - `tol`: relative tolerance; default 1e-4 (the paper's).
    - `max_iter`: the maximum number of iterations; default 100 (the reference's test script).
    - `n_orth`: previous directions to A-orthogonalise against; default 2 (the paper's); 0 disables.
    - `x0`: the initial guess; default zeros.
    - `mask`: optional, multiplies every direction (e.g. the fluid mask of a pressure system, so that the
        solution stays zero on solid and empty cells).
    - `input_scale`: the model sees `input_scale · r / ‖r‖`; default 1 (the reference). A unit-norm residual
        has entries `√(n_train / n)` times smaller on a grid of `n` cells than on the training grid of
        `n_train`; `input_scale = √(n / n_train)` restores the training magnitude (our option, not the
        paper's).
    - `host_loop`: drive the iterations from Python, one compiled step each (`True`), or run them in one
        `jax.lax.while_loop` (`False`). Default: the host loop when called eagerly, the while loop under
        `jax.jit`/`jax.vmap`. On CPU, XLA runs the network's convolutions about 5x slower inside a while loop
        than at top level (measured at 32^3: 0.80 s against 0.15 s per application); the host loop costs one
        device synchronisation per iteration.

    **Returns:** a [`SolveResult`][scimlx.core.SolveResult] (solution, iterations, residual history of length
    `max_iter + 1` with NaN after the last iteration, converged and breakdown flags).

    **Breakdown:** a direction that is zero (e.g. a network whose output vanishes, or one fully removed by
    the A-orthogonalisation or the mask), has curvature `qᵀAq <= 0` (an operator that is not positive
    definite on it), or makes anything non-finite stops the iteration at its last finite iterate with
    `breakdown=True` and `converged=False`. Called eagerly, `dcdm` then also emits a
    [`BreakdownWarning`][scimlx.core.linalg.BreakdownWarning] naming the cause and the iteration; under
    `jax.jit`/`jax.vmap` only the flag tells.
    """
    check_symmetric(A)
    op = as_operator(A)
    check_callable("model", model, "a function of the residual")
    b = jnp.asarray(b)
    if b.shape != op.shape:
        raise ValueError(f"`b` must have the operator's shape {op.shape}, got {b.shape}")
    if x0 is not None and jnp.shape(x0) != op.shape:
        raise ValueError(f"`x0` must have the operator's shape {op.shape}, got {jnp.shape(x0)}")
    tol = check_number("tol", tol, low=0, low_open=True)
    max_iter = check_int("max_iter", max_iter)
    n_orth = check_int("n_orth", n_orth, low=0)
    input_scale = check_number("input_scale", input_scale, low=0, low_open=True)
    if mask is not None and jnp.shape(mask) != op.shape:
        raise ValueError(f"`mask` must have the operator's shape {op.shape}, got {jnp.shape(mask)}")
    dtype = b.dtype if jnp.issubdtype(b.dtype, jnp.floating) else jnp.result_type(float)
    b = b.astype(dtype)
    x = jnp.zeros_like(b) if x0 is None else jnp.asarray(x0, dtype)
    m = None if mask is None else jnp.asarray(mask, dtype)
    out_shape = jax.eval_shape(model, b[None]).shape
    if out_shape != (1, *op.shape):
        raise ValueError(
            f"`model` must map one sample (1, *{op.shape}) to (1, *{op.shape}) (channels first), "
            f"got {out_shape}"
        )

    b_norm = _norm(b)
    b_norm = jnp.where(b_norm == 0, 1, b_norm)
    r = b - op.mv(x)
    rel = _norm(r) / b_norm
    history = jnp.full((max_iter + 1,), jnp.nan, dtype).at[0].set(rel)
    k_orth = max(n_orth, 1)
    P = jnp.zeros((k_orth,) + op.shape, dtype)
    AP = jnp.zeros((k_orth,) + op.shape, dtype)
    pAp = jnp.ones((k_orth,), dtype)

    def cond(carry):
        k, _, _, _, _, _, rel, _, code = carry
        return (k < max_iter) & (rel > tol) & (code == 0)

    code = jnp.where(jnp.isfinite(rel), 0, _NONFINITE).astype(jnp.int32)
    carry = (jnp.array(0, jnp.int32), x, r, P, AP, pAp, rel, history, code)
    leaves = jax.tree.leaves(eqx.filter((b, x, model, op), eqx.is_array))
    traced = any(isinstance(v, jax.core.Tracer) for v in leaves)
    if host_loop is None:
        host_loop = not traced
    config = (float(input_scale), n_orth, k_orth, jnp.dtype(dtype))
    if host_loop:
        if traced:
            raise ValueError("`host_loop=True` cannot run under jax.jit/vmap; leave it None there")
        while bool(cond(carry)):
            carry = _dcdm_step_jit(model, op, b, m, b_norm, carry, config)
    else:
        carry = jax.lax.while_loop(cond, lambda c: _dcdm_step(model, op, b, m, b_norm, c, config), carry)
    k, x, _, _, _, _, rel, history, code = carry
    warn_breakdown("dcdm", code, k, _REASONS)
    return SolveResult(x=x, iterations=k, residual_history=history, converged=rel <= tol, breakdown=code != 0)


# --------------------------------------------------------------------------------------------------------
# The network


def _conv(ndim: int, cin: int, cout: int, kernel: int, key, dtype) -> eqx.nn.Conv:
    """A 'same'-padded convolution with Keras's defaults: Glorot-uniform weights, zero bias."""
    conv = eqx.nn.Conv(ndim, cin, cout, kernel, padding=kernel // 2, key=key, dtype=dtype)
    fan_in, fan_out = cin * kernel**ndim, cout * kernel**ndim
    lim = np.sqrt(6 / (fan_in + fan_out))
    w = jax.random.uniform(key, conv.weight.shape, dtype, -lim, lim)
    return eqx.tree_at(lambda c: (c.weight, c.bias), conv, (w, jnp.zeros_like(conv.bias)))


DCDM_VARIANTS = {64: (4, 3, 2), 128: (6, 5, 3)}


class DCDMNet(eqx.Module):
    """The reference DCDM network in 3-D or 2-D: 3x3(x3) convolutions with 16 channels, residual ReLU pairs,
    one 2x average pooling, nearest upsampling added to the full-resolution path, a 1x1 linear head.

    Layout (variant 64; variant 128 in brackets): a linear convolution 1 -> 16; a full-resolution block of 4
    [6] ReLU convolutions (`a = c(x)`, then pairs `b = c(a); a = c(b) + a`, then `b = c(a)`); average pooling;
    3 [5] residual pairs at half resolution; nearest upsampling added to `b`; 2 [3] residual pairs; a 1x1
    convolution 16 -> 1. In 3-D variant 64 has 97,457 parameters and variant 128 has 152,881, as the
    reference's Keras models. Any even grid size works, and a model trained at one size runs at another.

    Like every grid model of the suite it maps one channels-first sample: `(1, *shape)` -> `(1, *shape)`
    (batches go through `jax.vmap`); [`dcdm`][scimlx.solvers.dcdm] and [`dcdm_loss`][scimlx.solvers.dcdm_loss]
    add and remove the channel axis themselves.

    **Arguments:**

    - `ndim`: 2 or 3.
    - `variant`: 64 or 128 (the reference's names, after the grid it was trained on); default 64.
    - `channels`: feature channels; default 16.
    - `dtype`: parameter dtype.
    - `key`: a PRNG key.
    """

    first: eqx.nn.Conv
    pre: tuple[eqx.nn.Conv, ...]
    mid: tuple[eqx.nn.Conv, ...]
    post: tuple[eqx.nn.Conv, ...]
    head: eqx.nn.Conv
    ndim: int = eqx.field(static=True)

    def __init__(
        self, ndim: int = 3, variant: int = 64, *, channels: int = 16, dtype=None, key: PRNGKeyArray
    ):
        check_choice("ndim", ndim, (2, 3))
        check_choice("variant", variant, sorted(DCDM_VARIANTS))
        channels = check_int("channels", channels)
        key = check_key(key)
        dtype = jnp.result_type(float) if dtype is None else dtype
        n_pre, n_mid, n_post = DCDM_VARIANTS[variant]
        keys = iter(jax.random.split(key, 2 + n_pre + 2 * n_mid + 2 * n_post))
        self.first = _conv(ndim, 1, channels, 3, next(keys), dtype)
        self.pre = tuple(_conv(ndim, channels, channels, 3, next(keys), dtype) for _ in range(n_pre))
        self.mid = tuple(_conv(ndim, channels, channels, 3, next(keys), dtype) for _ in range(2 * n_mid))
        self.post = tuple(_conv(ndim, channels, channels, 3, next(keys), dtype) for _ in range(2 * n_post))
        self.head = _conv(ndim, channels, 1, 1, next(keys), dtype)
        self.ndim = ndim

    def __call__(
        self,
        x: Float[Array, "1 *shape"],  # noqa: F821
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, "1 *shape"]:  # noqa: F821
        """**Arguments:** `x`, one sample `(1, *shape)`: the (normalised) residual on a grid of `ndim` even
        sides; `key`, unused. Returns the direction, `(1, *shape)`."""
        del key
        check_shape("x", x, (1,) + (None,) * self.ndim)
        if any(n % 2 for n in x.shape[1:]):
            raise ValueError(f"every side of `x` must be even (one 2x pooling), got shape {x.shape}")
        relu = jax.nn.relu
        conv = functools.partial(_conv_channels_last, self.ndim)
        # channels last inside (XLA's CPU convolutions run in that layout), and in 3-D every convolution
        # as 2-D ones over the depth taps (see `_conv_channels_last`)
        h = jnp.moveaxis(x, 0, -1)
        a = relu(conv(self.pre[0], conv(self.first, h)))
        for i in range(1, len(self.pre) - 1, 2):
            b = relu(conv(self.pre[i], a))
            a = relu(conv(self.pre[i + 1], b)) + a
        b = relu(conv(self.pre[-1], a))
        shape = b.shape
        pooled = b.reshape(sum(((n // 2, 2) for n in shape[:-1]), ()) + (shape[-1],))
        c = jnp.mean(pooled, axis=tuple(range(1, 2 * self.ndim, 2)))
        for i in range(0, len(self.mid), 2):
            c = relu(conv(self.mid[i + 1], relu(conv(self.mid[i], c)))) + c
        up = c
        for ax in range(self.ndim):
            up = jnp.repeat(up, 2, axis=ax)
        u = up + b
        for i in range(0, len(self.post), 2):
            u = relu(conv(self.post[i + 1], relu(conv(self.post[i], u)))) + u
        return jnp.moveaxis(conv(self.head, u), -1, 0)


def _conv_channels_last(ndim: int, layer: eqx.nn.Conv, x: Array) -> Array:
    """`layer` (an `eqx.nn.Conv` with 'same' padding and a bias) on a channels-last sample `(*shape, C)`.

    In 3-D, the sum over the depth taps of 2-D convolutions with the depth as their batch: XLA's CPU 3-D
    convolution runs about 4x slower than that (16 channels at 64^3: 0.176 s against 0.042 s).
    """
    w = layer.weight.astype(x.dtype)
    k = w.shape[2:]
    if ndim == 3:
        p = k[0] // 2
        xp = jnp.pad(x, ((p, p), (0, 0), (0, 0), (0, 0)))
        depth = x.shape[0]
        dims = ("NHWC", "OIHW", "NHWC")
        pads = [(kk // 2, kk // 2) for kk in k[1:]]
        y = sum(
            jax.lax.conv_general_dilated(xp[a : a + depth], w[:, :, a], (1, 1), pads, dimension_numbers=dims)
            for a in range(k[0])
        )
    else:
        spatial = "DHW"[-ndim:]
        dims = ("N" + spatial + "C", "OI" + spatial, "N" + spatial + "C")
        pads = [(kk // 2, kk // 2) for kk in k]
        y = jax.lax.conv_general_dilated(x[None], w, (1,) * ndim, pads, dimension_numbers=dims)[0]
    return y + layer.bias.reshape(-1).astype(x.dtype)


# --------------------------------------------------------------------------------------------------------
# Loss and training data


def dcdm_loss(A: Any, model: Callable[[Array], Array], b: Float[Array, "batch *shape"]) -> Array:  # noqa: F821
    """DCDM's unsupervised loss: the mean over the batch of `‖b - A q (qᵀb / qᵀAq)‖²`, `q = model(b)`: the
    residual after one exact line search from zero along the model's direction. Invariant to the scale of
    `q`; needs no solutions.

    **Arguments:**

    - `A`: the operator of the training system.
    - `model`: the network, a function of one channels-first sample `(1, *shape)` returning `(1, *shape)`
        (the channel axis is added and removed here).
    - `b`: a batch of right-hand sides `(batch, *shape)`, shaped like the grid (no channel axis).
    """
    op = as_operator(A)
    check_shape("b", b, (None, *op.shape))

    def one(bi):
        q = _direction(model, bi)
        Aq = op.mv(q)
        step = jnp.sum(q * bi) / jnp.sum(q * Aq)
        return jnp.sum((bi - step * Aq) ** 2)

    return jnp.mean(jax.vmap(one)(b))


def lanczos(
    A: Any, v0: Float[ArrayLike, "*shape"], m: int
) -> tuple[Float[Array, " m"], Float[Array, " m1"], Float[Array, "..."]]:
    """`m` steps of the Lanczos iteration with full re-orthogonalisation (twice, classical Gram-Schmidt
    against every previous vector), as DCDM's data generator.

    **Arguments:**

    - `A`: a symmetric operator.
    - `v0`: the start vector (normalised here).
    - `m`: the number of steps (at most the number of unknowns).

    **Returns:** `(alpha, beta, V)`: the diagonal `(m,)` and off-diagonal `(m - 1,)` of the tridiagonal
    `T = Vᵀ A V`, and the orthonormal Lanczos vectors `V`, one per row.
    """
    op = as_operator(A)
    v0 = jnp.asarray(v0)
    if v0.shape != op.shape:
        raise ValueError(f"`v0` must have the operator's shape {op.shape}, got {v0.shape}")
    m = check_int("m", m)
    n = op.size
    if m > n:
        raise ValueError(f"`m`={m} exceeds the number of unknowns {n}")
    dtype = v0.dtype if jnp.issubdtype(v0.dtype, jnp.floating) else jnp.result_type(float)
    v = v0.reshape(-1).astype(dtype)
    v = v / _norm(v)
    V = jnp.zeros((m, n), dtype).at[0].set(v)

    def mv(x):
        return op.mv(x.reshape(op.shape)).reshape(-1).astype(dtype)

    def body(j, carry):
        V, alpha, beta = carry
        vj = V[j]
        w = mv(vj)
        a = jnp.dot(w, vj)
        for _ in range(2):  # rows > j are still zero
            w = w - V.T @ (V @ w)
        bnorm = _norm(w)
        nxt = w / jnp.where(bnorm == 0, 1, bnorm)
        V = jax.lax.cond(j + 1 < m, lambda V: V.at[j + 1].set(nxt), lambda V: V, V)
        return V, alpha.at[j].set(a), beta.at[j].set(bnorm)

    V, alpha, beta = jax.lax.fori_loop(0, m, body, (V, jnp.zeros(m, dtype), jnp.zeros(m, dtype)))
    return alpha, beta[:-1], V.reshape((m,) + op.shape)


def ritz_pairs(
    A: Any,
    m: int,
    *,
    key: PRNGKeyArray,
    v0: Float[ArrayLike, "*shape"] | None = None,
    drop_below: float = 1e-8,
) -> tuple[Float[Array, " k"], Float[Array, "..."]]:
    """Ritz values (ascending) and Ritz vectors of `A` from `m` Lanczos steps started at `A g`, `g` Gaussian
    (a start in the range of `A`, free of its null space), dropping Ritz values below `drop_below` times the
    largest (the null space), as DCDM's data generator.

    **Arguments:**

    - `A`: a symmetric positive semi-definite operator.
    - `m`: Lanczos steps (the reference: 10,000; at 64^3 that basis alone is 10 GB, so use fewer on a CPU).
    - `key`: a PRNG key for `g`.
    - `v0`: a start vector instead of `A g`.
    - `drop_below`: relative threshold for the null space.

    **Returns:** `(values, vectors)`, vectors one per row, orthonormal.
    """
    op = as_operator(A)
    key = check_key(key)
    if v0 is None:
        v0 = op.mv(jax.random.normal(key, op.shape, jnp.result_type(float)))
    alpha, beta, V = lanczos(op, v0, m)
    T = jnp.diag(alpha) + jnp.diag(beta, 1) + jnp.diag(beta, -1)
    values, Q = jnp.linalg.eigh(T)
    vectors = jnp.einsum("mk,m...->k...", Q, V)
    keep = np.asarray(values > drop_below * jnp.max(jnp.abs(values)))
    return values[keep], vectors[keep]


def ritz_rhs(
    vectors: Float[Array, "..."],
    n: int,
    *,
    key: PRNGKeyArray,
    n_low: int | None = None,
    low_weight: float = 9.0,
    mask: Float[ArrayLike, "*shape"] | None = None,
) -> Float[Array, "..."]:
    """Right-hand sides `b = Σ c_j q_j / ‖·‖` over Ritz vectors (ascending Ritz values), with
    `c_j = low_weight · N(0, 1)` for the `n_low` smallest and `N(0, 1)` for the rest: DCDM's training data
    (the reference weights the first `m/2 + 500` of 10,000 vectors 9x; the default `n_low` keeps that
    fraction, `k/2 + k/20`).

    **Arguments:**

    - `vectors`: Ritz vectors from [`ritz_pairs`][scimlx.solvers.ritz_pairs], smallest value first.
    - `n`: the number of right-hand sides.
    - `key`: a PRNG key.
    - `n_low`: how many of the smallest get `low_weight`.
    - `low_weight`: their weight; default 9.
    - `mask`: optional, multiplies each `b` (e.g. the fluid mask).
    """
    key = check_key(key)
    n = check_int("n", n)
    vectors = jnp.asarray(vectors)
    if vectors.ndim < 2:
        raise ValueError(f"`vectors` must hold one Ritz vector per row, got shape {vectors.shape}")
    k = vectors.shape[0]
    n_low = k // 2 + k // 20 if n_low is None else check_int("n_low", n_low, low=0)
    weights = jnp.where(jnp.arange(k) < n_low, low_weight, 1.0).astype(vectors.dtype)
    c = jax.random.normal(key, (n, k), vectors.dtype) * weights
    b = jnp.einsum("nk,k...->n...", c, vectors)
    if mask is not None:
        b = b * jnp.asarray(mask, b.dtype)
    norms = jnp.sqrt(jnp.sum(b.reshape(n, -1) ** 2, axis=1)).reshape((n,) + (1,) * (b.ndim - 1))
    return b / norms
