"""KRnet (Tang, Wan & Liao; the generator of DAS and AAS) and RealNVP, on a bounded box or the whole space;
drawing samples inside a box."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core import Box
from scimlx.core.validate import check_dtype, check_int, check_key, check_number

from ._base import AbstractBijector, AbstractFlow, Chain
from ._layers import ActNorm, AffineCoupling, Reverse

__all__ = ["KRnet", "LogitBox", "QuadraticCDF", "RealNVP", "sample_in_box"]


class LogitBox(AbstractBijector):
    """The bounded-support map of KRnet: the box `(lb, hb)` affinely onto `(0, 1)^d`, then the logit, so that
    the flow's density lives in the box (DAS: `lb = -1.01`, `hb = 1.01` around `[-1, 1]^d`). The forward map
    clips to `[eps, 1 - eps]` before the logit, as the DAS code does; the inverse is the logistic sigmoid.

    **Arguments:**

    - `lb`, `hb`: `(d,)` bounds.
    - `eps`: the clip; default 1e-6.
    """

    lb: tuple[float, ...] = eqx.field(static=True, converter=lambda v: tuple(float(a) for a in np.ravel(v)))
    hb: tuple[float, ...] = eqx.field(static=True, converter=lambda v: tuple(float(a) for a in np.ravel(v)))
    eps: float = eqx.field(static=True, default=1e-6)

    def __check_init__(self):
        if len(self.lb) != len(self.hb) or not self.lb:
            raise ValueError(f"`lb` and `hb` must have one entry per coordinate, got {self.lb} and {self.hb}")
        if not all(np.isfinite(self.lb + self.hb)) or not all(h > lo for lo, h in zip(self.lb, self.hb)):
            raise ValueError(f"`hb` must exceed `lb` (both finite), got {self.lb} and {self.hb}")
        check_number("eps", self.eps, low=0, high=0.5, low_open=True, high_open=True)

    def forward(self, x):
        lb, hb = jnp.asarray(self.lb, x.dtype), jnp.asarray(self.hb, x.dtype)
        y = jnp.clip((x - lb) / (hb - lb), self.eps, 1 - self.eps)
        z = jnp.log(y) - jnp.log1p(-y)
        return z, jnp.sum(-jnp.log(hb - lb) - jnp.log(y) - jnp.log1p(-y))

    def inverse(self, z):
        lb, hb = jnp.asarray(self.lb, z.dtype), jnp.asarray(self.hb, z.dtype)
        y = jax.nn.sigmoid(z)
        # log(y(1 - y)) = -softplus(-z) - softplus(z), exact also where y rounds to 0 or 1
        logdet = jnp.sum(jnp.log(hb - lb) - jax.nn.softplus(-z) - jax.nn.softplus(z))
        return lb + y * (hb - lb), logdet


class QuadraticCDF(AbstractBijector):
    """The piecewise-quadratic CDF layer of KRnet, per coordinate: on `[-bound, bound]` the map is
    `2·bound·F(u) - bound` with `u = (x + bound) / (2·bound)` and `F` the CDF of a piecewise-linear density on
    a fixed mesh of `n_bins` elements growing geometrically (ratio `r`) away from 0; outside it is the
    identity. The density's interior node values are `c·exp(p_k)` with `c` normalising its trapezoid integral
    and both end values 1, so the map is C¹ at `±bound`, and the layer starts (`p = 0`) as the identity.

    **Arguments:**

    - `dim`: coordinates.
    - `n_bins`: elements (even); default 32 (DAS).
    - `bound`: default 50.
    - `ratio`: `r`, the growth of the elements; default 1.2.
    """

    p: Array
    nodes: tuple[float, ...] = eqx.field(static=True)
    bound: float = eqx.field(static=True)

    def __init__(self, dim: int, n_bins: int = 32, *, bound: float = 50.0, ratio: float = 1.2, dtype=None):
        dim = check_int("dim", dim)
        n_bins = check_int("n_bins", n_bins, low=2)
        if n_bins % 2:
            raise ValueError(f"`n_bins` must be even, got {n_bins}")
        self.bound = check_number("bound", bound, low=0, low_open=True)
        ratio = check_number("ratio", ratio, low=1, low_open=True)
        m = n_bins // 2
        d0 = self.bound * (ratio - 1) / (ratio**m - 1)
        j = np.arange(-m, m + 1)
        xi = np.sign(j) * d0 * (ratio ** np.abs(j) - 1) / (ratio - 1)
        u = (xi + self.bound) / (2 * self.bound)
        u[0], u[-1] = 0.0, 1.0
        self.nodes = tuple(float(a) for a in u)
        dtype = jnp.result_type(float) if dtype is None else dtype
        self.p = jnp.zeros((dim, n_bins - 1), dtype)

    def _pdf(self):
        """The density's node values `(dim, n_bins + 1)` and the CDF at the nodes."""
        u = jnp.asarray(self.nodes, self.p.dtype)
        h = jnp.diff(u)
        e = jnp.exp(self.p)
        c = (1 - h[0]) / jnp.sum(e * (h[:-1] + h[1:]) / 2, axis=-1, keepdims=True)
        ones = jnp.ones(self.p.shape[:-1] + (1,), self.p.dtype)
        pdf = jnp.concatenate([ones, c * e, ones], axis=-1)
        cdf = jnp.concatenate(
            [jnp.zeros_like(ones), jnp.cumsum((pdf[:, :-1] + pdf[:, 1:]) * h / 2, axis=-1)], axis=-1
        )
        return u, h, pdf, cdf

    def _element(self, grid, value):
        k = jnp.searchsorted(grid, value, side="right") - 1
        return jnp.clip(k, 0, grid.shape[0] - 2)

    def forward(self, x):
        u_nodes, h, pdf, cdf = self._pdf()
        u = (x + self.bound) / (2 * self.bound)
        covered = (u >= 0) & (u <= 1)
        u = jnp.clip(u, 0.0, 1.0)  # the tails are masked below; clipped, their branch has finite gradients

        def one(ui, pdf_i, cdf_i):
            k = self._element(u_nodes, ui)
            v1, v2, hk = pdf_i[k], pdf_i[k + 1], h[k]
            delta = ui - u_nodes[k]
            f = cdf_i[k] + v1 * delta + (v2 - v1) * delta**2 / (2 * hk)
            return f, jnp.log(v1 + (v2 - v1) * delta / hk)

        f, logd = jax.vmap(one)(u, pdf, cdf)
        y = jnp.where(covered, 2 * self.bound * f - self.bound, x)
        return y, jnp.sum(jnp.where(covered, logd, 0.0))

    def inverse(self, y):
        u_nodes, h, pdf, cdf = self._pdf()
        f = (y + self.bound) / (2 * self.bound)
        covered = (f >= 0) & (f <= 1)
        f = jnp.clip(f, 0.0, 1.0)

        def one(fi, pdf_i, cdf_i):
            k = self._element(cdf_i, fi)
            v1, v2, hk = pdf_i[k], pdf_i[k + 1], h[k]
            ys = fi - cdf_i[k]
            # the root of (v2 - v1)/(2h) δ² + v1 δ - ys = 0 in its cancellation-free form
            delta = 2 * ys / (v1 + jnp.sqrt(jnp.maximum(v1**2 + 2 * ys * (v2 - v1) / hk, 0.0)))
            return u_nodes[k] + delta, -jnp.log(v1 + (v2 - v1) * delta / hk)

        u, logd = jax.vmap(one)(f, pdf, cdf)
        x = jnp.where(covered, 2 * self.bound * u - self.bound, y)
        return x, jnp.sum(jnp.where(covered, logd, 0.0))


class _Leading(AbstractBijector):
    """A bijector of the first `n` coordinates; the rest pass unchanged (KRnet's deactivated coordinates)."""

    inner: AbstractBijector
    n: int = eqx.field(static=True)

    def forward(self, x):
        y, ld = self.inner.forward(x[: self.n])
        return jnp.concatenate([y, x[self.n :]]), ld

    def inverse(self, y):
        x, ld = self.inner.inverse(y[: self.n])
        return jnp.concatenate([x, y[self.n :]]), ld

    def initialize(self, x):
        return _Leading(self.inner.initialize(x[:, : self.n]), self.n)


def _support(box: Box | None, dim: int, margin: float) -> LogitBox | None:
    if box is None:
        return None
    if not isinstance(box, Box):
        raise TypeError(f"`box` must be a scimlx Box or None, got {type(box).__name__}")
    if box.ndim != dim:
        raise ValueError(f"`box` has {box.ndim} dimensions but `dim` is {dim}")
    lo, hi = np.asarray(box.lo, float), np.asarray(box.hi, float)
    pad = margin * (hi - lo) / 2
    return LogitBox(lo - pad, hi + pad)


class KRnet(AbstractFlow):
    """KRnet (Tang, Wan & Liao, "Deep density estimation via invertible block-triangular mapping"; the
    generator of DAS and AAS), as the DAS code (`IM_rNVP_KR_CDF`) builds it.

    Data to latent: the bounded-support map of the box ([`LogitBox`][scimlx.flows.LogitBox]); then
    `ceil(d / n_step)` stages in the Knothe-Rosenblatt order. Each stage but the last acts on the `n` still
    active coordinates: `n_depth` times an activation normalisation ([`ActNorm`][scimlx.flows.ActNorm], its
    log-scale divided by 3 as in DAS), an affine coupling ([`AffineCoupling`][scimlx.flows.AffineCoupling],
    `"krnet"`: the last `n_step` coordinates conditioned on the others at even layers, the last `n - n_step`
    on the first `n_step` at odd ones) and a reversal of the active coordinates; then the last `n_step`
    active coordinates are deactivated (they pass unchanged and condition nothing after). The last stage is
    an activation normalisation and the piecewise-quadratic CDF layer
    ([`QuadraticCDF`][scimlx.flows.QuadraticCDF]) on the remaining coordinates. Prior: standard Gaussian.

    Simplifications: DAS's optional rotation layers (off by default there) are not built. DAS's activation
    normalisation is meant to be initialised on the first batch (its TensorFlow script in fact never does,
    a tracing quirk; the PyTorch port DAS-2 does): call [`initialize`][scimlx.flows.AbstractFlow.initialize]
    with a batch of points, as [`scimlx.pinn`][]'s samplers do with uniform points.

    **Arguments:**

    - `dim`: the dimension `d`.
    - `box`: the domain: the flow's support is the box enlarged by `margin` of its half-width per side
        (DAS: `[-1.01, 1.01]^d` around `[-1, 1]^d`); `None`: the whole space (no bounded-support map).
    - `n_step`: coordinates deactivated per stage; default 1.
    - `n_depth`: coupling layers per stage (even); default 6.
    - `width`: hidden units of the couplings' two hidden layers; default 24.
    - `n_bins`: elements of the CDF layer; default 32.
    - `margin`: default 0.01.
    - `dtype`: parameter dtype.
    - `key`: a PRNG key.
    """

    dim: int = eqx.field(static=True)
    bijector: Chain

    def __init__(
        self,
        dim: int,
        *,
        box: Box | None = None,
        n_step: int = 1,
        n_depth: int = 6,
        width: int = 24,
        n_bins: int = 32,
        margin: float = 0.01,
        dtype=None,
        key: PRNGKeyArray,
    ):
        self.dim = dim = check_int("dim", dim)
        dtype = None if dtype is None else check_dtype("dtype", dtype)
        n_step = check_int("n_step", n_step)
        n_depth = check_int("n_depth", n_depth)
        if n_depth % 2:
            raise ValueError(f"`n_depth` must be even (each stage restores the order), got {n_depth}")
        if n_step > dim:
            raise ValueError(f"`n_step` must be at most `dim`={dim}, got {n_step}")
        width = check_int("width", width)
        margin = check_number("margin", margin, low=0)
        key = check_key(key)
        layers: list[AbstractBijector] = []
        support = _support(box, dim, margin)
        if support is not None:
            layers.append(support)
        n_stage = math.ceil(dim / n_step)
        keys = jax.random.split(key, max(n_stage - 1, 1) * n_depth)
        for i in range(n_stage - 1):
            n = dim - i * n_step
            stage: list[AbstractBijector] = []
            for j in range(n_depth):
                split = n - n_step if j % 2 == 0 else n_step
                stage += [
                    ActNorm(n, log_scale_factor=3.0, dtype=dtype),
                    AffineCoupling(
                        n, split, width=width, kind="krnet", dtype=dtype, key=keys[i * n_depth + j]
                    ),
                    Reverse(),
                ]
            layers.append(_Leading(Chain(stage), n) if n < dim else Chain(stage))
        last = dim - (n_stage - 1) * n_step
        final = Chain(
            [ActNorm(last, log_scale_factor=3.0, dtype=dtype), QuadraticCDF(last, n_bins, dtype=dtype)]
        )
        layers.append(_Leading(final, last) if last < dim else final)
        self.bijector = Chain(layers)


class RealNVP(AbstractFlow):
    """RealNVP (Dinh, Sohl-Dickstein & Bengio, ICLR 2017), the simpler flow: `n_couplings` times an
    activation normalisation, an affine coupling (`a = exp(tanh(h_s))`, half the coordinates conditioning the
    other half) and a reversal of the coordinates; optionally after KRnet's bounded-support map of a box.

    **Arguments:**

    - `dim`: the dimension (at least 2).
    - `box`: the domain (the support is the box enlarged by `margin` of its half-width), or `None`.
    - `n_couplings`: default 6.
    - `width`, `depth`: of the couplings' MLPs; default 24 and 2.
    - `margin`: default 0.01.
    - `dtype`: parameter dtype.
    - `key`: a PRNG key.
    """

    dim: int = eqx.field(static=True)
    bijector: Chain

    def __init__(
        self,
        dim: int,
        *,
        box: Box | None = None,
        n_couplings: int = 6,
        width: int = 24,
        depth: int = 2,
        margin: float = 0.01,
        dtype=None,
        key: PRNGKeyArray,
    ):
        self.dim = dim = check_int("dim", dim, low=2)
        dtype = None if dtype is None else check_dtype("dtype", dtype)
        n_couplings = check_int("n_couplings", n_couplings)
        margin = check_number("margin", margin, low=0)
        keys = jax.random.split(check_key(key), n_couplings)
        layers: list[AbstractBijector] = []
        support = _support(box, dim, margin)
        if support is not None:
            layers.append(support)
        for k in keys:
            layers += [
                ActNorm(dim, dtype=dtype),
                AffineCoupling(dim, width=width, depth=depth, kind="realnvp", dtype=dtype, key=k),
                Reverse(),
            ]
        self.bijector = Chain(layers)


def sample_in_box(
    flow: AbstractFlow, n: int, box: Box, *, key: PRNGKeyArray, oversample: float = 1.5, dtype=None
) -> tuple[Float[Array, "n d"], Float[Array, " n"]]:
    """`n` samples of `flow` inside `box`, with the flow's log-density at each: `ceil(oversample · n)` are
    drawn and the first `n` inside kept (rejection, in a fixed shape for `jax.jit`); if fewer fall inside,
    the rest are the outside samples projected onto the box (clipped), as DAS projects its samples onto the
    cube. The log-density returned for a projected point is the flow's at the point where it lands (its
    own probability mass lies outside the box: a small bias when few points are projected). The densities
    are those of the flow, not of the flow truncated to the box (they differ by the constant factor
    `P(inside)`).

    **Arguments:**

    - `flow`: an [`AbstractFlow`][scimlx.flows.AbstractFlow].
    - `n`: the number of points.
    - `box`: the domain.
    - `key`: a PRNG key.
    - `oversample`: candidates drawn per point (>= 1); default 1.5.
    """
    if not isinstance(flow, AbstractFlow):
        raise TypeError(f"`flow` must be a scimlx.flows flow, got {type(flow).__name__}")
    if not isinstance(box, Box):
        raise TypeError(f"`box` must be a scimlx Box, got {type(box).__name__}")
    if box.ndim != flow.dim:
        raise ValueError(f"`box` has {box.ndim} dimensions but the flow has {flow.dim}")
    n = check_int("n", n)
    oversample = check_number("oversample", oversample, low=1)
    return _sample_in_box(flow, n, math.ceil(oversample * n), box.lo, box.hi, check_key(key), dtype)


@eqx.filter_jit
def _sample_in_box(flow, n, m, lo, hi, key, dtype):
    x, logp = flow.sample_and_log_prob(m, key=key, dtype=dtype)
    lo, hi = jnp.asarray(lo, x.dtype), jnp.asarray(hi, x.dtype)
    inside = jnp.all((x >= lo) & (x <= hi), axis=1)
    order = jnp.argsort(~inside, stable=True)[:n]
    x, logp, projected = jnp.clip(x[order], lo, hi), logp[order], ~inside[order]
    # a projected point gets the flow's density where it lands (the mass it stands for lies outside)
    return x, jnp.where(projected, jax.vmap(flow.log_prob)(x), logp)
