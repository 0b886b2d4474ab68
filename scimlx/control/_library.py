"""Candidate-term libraries for model-error discovery: the columns a sparse regression chooses from.

`PolynomialDerivativeLibrary` is MEDIDA's (and PDE-FIND's) library for a scalar field in one dimension: the
powers `u, u^2, ..., u^P` and the products `u^p ∂_x^d u` for `p = 0..P`, `d = 1..D` (`P = D = 4`: 24 terms;
the constant is left out). The derivatives are those of the core's [`GridField`][scimlx.core.GridField]:
spectral on a periodic grid (exact for trigonometric fields), finite differences of order 2 or 4 on a bounded
grid (one-sided at the ends), which is the reference code's variant; it differentiates `∂^4` with one stencil
where the reference code nests `∂(∂^3)`. `QGLibrary` is MEDIDA-QG's, for the two-layer QG model.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from scimlx.core import GridField
from scimlx.core.validate import check_bool, check_int

__all__ = ["PolynomialDerivativeLibrary", "QGLibrary"]

_SUB = "x"


def _derivative_name(d: int) -> str:
    return "u" if d == 0 else f"u_{_SUB * d}"


class PolynomialDerivativeLibrary(eqx.Module):
    """The powers `u^p` (`p = 1..P`) and the products `u^p ∂_x^d u` (`p = 0..P`, `d = 1..D`) of a 1-D scalar
    field, as columns.

    **Arguments:**

    - `max_power`: `P` (default 4, MEDIDA's).
    - `max_order`: `D`, the highest derivative (default 4, MEDIDA's).
    - `constant`: also a column of ones (default off: a model error is not a constant forcing here).
    """

    max_power: int = eqx.field(default=4, static=True)
    max_order: int = eqx.field(default=4, static=True)
    constant: bool = eqx.field(default=False, static=True)

    def __check_init__(self):
        check_int("max_power", self.max_power, low=0)
        check_int("max_order", self.max_order, low=0)
        check_bool("constant", self.constant)
        if self.max_power == 0 and self.max_order == 0 and not self.constant:
            raise ValueError("the library is empty: raise `max_power` or `max_order`, or set `constant`")

    @property
    def terms(self) -> tuple[tuple[int, int], ...]:
        """The columns as `(p, d)`: the term `u^p ∂_x^d u`, or `u^p` for `d = 0` (`(0, 0)` the constant)."""
        terms = [(0, 0)] if self.constant else []
        terms += [(p, 0) for p in range(1, self.max_power + 1)]
        terms += [(p, d) for d in range(1, self.max_order + 1) for p in range(self.max_power + 1)]
        return tuple(terms)

    @property
    def names(self) -> tuple[str, ...]:
        """The columns' names: `"1"`, `"u"`, `"u^2"`, `"u_x"`, `"u u_x"`, `"u^2 u_xx"`, ..."""
        out = []
        for p, d in self.terms:
            if d == 0:
                out.append("1" if p == 0 else ("u" if p == 1 else f"u^{p}"))
            else:
                power = "" if p == 0 else ("u " if p == 1 else f"u^{p} ")
                out.append(power + _derivative_name(d))
        return tuple(out)

    def __len__(self) -> int:
        return len(self.terms)

    def __call__(self, field: GridField) -> Float[Array, "n m"]:  # noqa: F821
        """The library evaluated on a 1-D scalar field: `(n_points, m)`."""
        if not isinstance(field, GridField):
            raise TypeError(f"`field` must be a GridField, got {type(field).__name__}")
        if field.ndim != 1 or field.components != () or field.time:
            raise ValueError(
                "`field` must be a scalar field on a 1-D spatial grid (no components, no time axis), got "
                f"components {field.components} on {field.ndim} spatial axes"
            )
        u = field.value
        derivs = [u] + [field.d(0, d) for d in range(1, self.max_order + 1)]
        cols = [jnp.ones_like(u) if d == 0 and p == 0 else (u**p if d == 0 else u**p * derivs[d])
                for p, d in self.terms]  # fmt: skip
        return jnp.stack(cols, axis=-1)


class QGLibrary(eqx.Module):
    """MEDIDA-QG's candidate terms for the two-layer QG model's PV tendencies, from the streamfunctions.

    The reference code's ten: `∇²ψ_1`, `∇²ψ_2`, `(∂_x + ∂_y)ψ_1`, `(∂_x + ∂_y)ψ_2`, `ψ_1`, `ψ_2`, `ψ_R`, the
    layer Jacobians `J_1 = J(ψ_1, q_1)` and `J_2 = J(ψ_2, q_2)` (PV anomalies, no topography; dealiased as the
    model's) and `y`. The reference's gradient term sums the two derivatives, so a missing `β ∂_x ψ` is only
    partly in its span; `split_gradient=True` gives `∂_x ψ_k` and `∂_y ψ_k` as separate terms (twelve in all).

    **Arguments:**

    - `split_gradient`: separate `∂_x` and `∂_y` terms instead of their sum (default off, the reference's).
    """

    split_gradient: bool = eqx.field(default=False, static=True)

    def __check_init__(self):
        check_bool("split_gradient", self.split_gradient)

    @property
    def names(self) -> tuple[str, ...]:
        grad = (
            ("psi1_x", "psi1_y", "psi2_x", "psi2_y") if self.split_gradient else ("grad(psi1)", "grad(psi2)")
        )
        return ("lap(psi1)", "lap(psi2)", *grad, "psi1", "psi2", "psi_R", "J1", "J2", "y")

    def __len__(self) -> int:
        return len(self.names)

    def __call__(self, model, psi: Float[Array, "2 ny nx"]) -> Float[Array, "ny nx m"]:  # noqa: F821
        """The terms at the streamfunctions `psi` on `model`'s grid (a
        [`TwoLayerQG`][scimlx.control.TwoLayerQG])."""
        from ._qg import TwoLayerQG

        if not isinstance(model, TwoLayerQG):
            raise TypeError(f"`model` must be a TwoLayerQG, got {type(model).__name__}")
        psi = jnp.asarray(psi)
        if psi.shape != (2, model.ny, model.nx):
            raise ValueError(f"`psi` must have shape (2, {model.ny}, {model.nx}), got {psi.shape}")
        k, ll = model._wavenumbers()
        ph = model._hat(psi)
        lap = model._real(-(k**2 + ll**2) * ph)
        dx, dy = model._real(1j * k * ph), model._real(1j * ll * ph)
        qh = model._hat(model.potential_vorticity(psi))
        jac = model._real(model.jacobian_hat(ph, qh))
        y = jnp.broadcast_to(jnp.asarray(model.coordinates[1], psi.dtype)[:, None], psi.shape[1:])
        psi_r = jnp.broadcast_to(model.psi_r.astype(psi.dtype)[:, None], psi.shape[1:])
        grad = [dx[0], dy[0], dx[1], dy[1]] if self.split_gradient else [dx[0] + dy[0], dx[1] + dy[1]]
        cols = [lap[0], lap[1], *grad, psi[0], psi[1], psi_r, jac[0], jac[1], y]
        return jnp.stack(cols, axis=-1)
