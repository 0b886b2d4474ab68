"""The stochastic (perturbed-observation) ensemble Kalman filter analysis (Burgers, van Leeuwen and Evensen
1998), as MEDIDA uses it to turn noisy observations and an ensemble of model forecasts into an analysis.

With forecast members `x_i` (`i = 1..N_e`), their anomalies `A = (X - x̄)/sqrt(N_e - 1)` (multiplied by the
inflation factor), the observed anomalies `Y = (H(X) - mean)/sqrt(N_e - 1)` and `R = diag(σ_obs^2)`, each
member moves by `K (y + ε_i - H(x_i))`, `ε_i ~ N(0, R)`, with the gain `K = A^T Y (Y^T Y + R)^{-1}`. The state
covariance `A^T A` (`n x n`) is never formed: the update is computed either through the gain (`n x p`) or
through an `N_e x N_e` matrix, whichever is smaller. With localisation the gain is the Schur product form
`K = (ρ_xy ∘ A^T Y)(ρ_yy ∘ Y^T Y + R)^{-1}` (Houtekamer and Mitchell 2001), `ρ` the Gaspari-Cohn taper of the
distances between state points and observations, which needs the `n x p` gain.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from scimlx.core.validate import check_callable, check_key, check_number

__all__ = ["EnKF", "GaspariCohn", "gaspari_cohn"]


def gaspari_cohn(r: ArrayLike) -> Array:
    """The Gaspari-Cohn (1999) fifth-order piecewise rational taper of `r = distance / radius`: 1 at 0, 0 from
    `r = 2` on, compactly supported and positive definite."""
    r = jnp.abs(jnp.asarray(r))
    inner = -0.25 * r**5 + 0.5 * r**4 + 0.625 * r**3 - 5 / 3 * r**2 + 1
    outer = r**5 / 12 - 0.5 * r**4 + 0.625 * r**3 + 5 / 3 * r**2 - 5 * r + 4 - 2 / (3 * jnp.maximum(r, 1e-12))
    return jnp.where(r < 1, inner, jnp.where(r < 2, outer, 0.0))


class GaspariCohn(eqx.Module):
    """Covariance localisation by the Gaspari-Cohn taper of the distance between 1-D positions.

    **Arguments:**

    - `radius`: the half-width `c` (the taper vanishes beyond `2c`).
    - `state_coords`: `(n,)` the state points' positions.
    - `obs_coords`: `(p,)` the observations' positions.
    - `period`: the domain length for periodic distances, or `None`.
    """

    radius: float
    state_coords: Float[Array, " n"]
    obs_coords: Float[Array, " p"]
    period: float | None = None

    def __init__(self, radius, state_coords, obs_coords, period=None):
        self.radius = check_number("radius", radius, low=0.0, low_open=True)
        self.state_coords = jnp.asarray(state_coords)
        self.obs_coords = jnp.asarray(obs_coords)
        if self.state_coords.ndim != 1 or self.obs_coords.ndim != 1:
            raise ValueError("`state_coords` and `obs_coords` must be 1-D")
        self.period = None if period is None else check_number("period", period, low=0.0, low_open=True)

    def _taper(self, a, b):
        d = jnp.abs(a[:, None] - b[None, :])
        if self.period is not None:
            d = jnp.minimum(d, self.period - d)
        return gaspari_cohn(d / self.radius)

    def state_obs(self) -> Float[Array, "n p"]:  # noqa: F821
        return self._taper(self.state_coords, self.obs_coords)

    def obs_obs(self) -> Float[Array, "p p"]:  # noqa: F821
        return self._taper(self.obs_coords, self.obs_coords)


class EnKF(eqx.Module):
    """The stochastic ensemble Kalman filter analysis (module docstring).

    **Arguments:**

    - `obs_std`: the observation noise's standard deviation, a scalar or one per observation (`R` diagonal).
    - `obs_operator`: `None` (every state point observed), a `(p, n)` matrix, or a function
        `h(x) -> (p,)` of one member (vmapped; nonlinear allowed).
    - `inflation`: the multiplicative inflation of the forecast anomalies (`1`: none, MEDIDA's setting).
    - `localisation`: a [`GaspariCohn`][scimlx.control.GaspariCohn] taper, or `None` (MEDIDA's setting).
    """

    obs_std: Float[Array, "..."]
    obs_operator: Callable | Float[Array, "p n"] | None = None  # noqa: F821
    inflation: float = 1.0
    localisation: GaspariCohn | None = None

    def __check_init__(self):
        std = np.asarray(self.obs_std)
        if std.ndim > 1 or not np.all(np.isfinite(std)) or np.any(std <= 0):
            raise ValueError(f"`obs_std` must be positive: a scalar or one per observation, got {std}")
        check_number("inflation", self.inflation, low=1.0)
        op = self.obs_operator
        if op is not None and not callable(op):
            if np.ndim(op) != 2:
                raise ValueError(
                    f"`obs_operator` must be None, a (p, n) matrix or a function, got shape {np.shape(op)}"
                )
        elif op is not None:
            check_callable("obs_operator", op)
        if self.localisation is not None and not isinstance(self.localisation, GaspariCohn):
            raise TypeError(
                f"`localisation` must be a GaspariCohn taper or None, got {type(self.localisation).__name__}"
            )

    def observe(self, x: Float[Array, " n"]) -> Float[Array, " p"]:
        """`H(x)` for one state."""
        op = self.obs_operator
        if op is None:
            return x
        if callable(op):
            return op(x)
        return jnp.asarray(op) @ x

    def analysis(
        self,
        ensemble: Float[Array, "members n"],  # noqa: F821
        observation: Float[Array, " p"],
        *,
        key: PRNGKeyArray,
    ) -> Float[Array, "members n"]:  # noqa: F821
        """The analysis ensemble from the forecast `ensemble` and one `observation`."""
        key = check_key(key)
        x = jnp.asarray(ensemble)
        y = jnp.asarray(observation)
        if x.ndim != 2:
            raise ValueError(f"`ensemble` must have shape (members, n), got {x.shape}")
        members, n = x.shape
        if members < 2:
            raise ValueError("`ensemble` needs at least two members: one member has no spread")
        hx = jax.vmap(self.observe)(x)
        if y.ndim != 1 or y.shape[0] != hx.shape[1]:
            raise ValueError(
                f"`observation` must have shape ({hx.shape[1]},) to match the observation operator, "
                f"got {y.shape}"
            )
        p = y.shape[0]
        std = jnp.broadcast_to(jnp.asarray(self.obs_std, x.dtype), (p,))
        if self.localisation is not None:
            loc = self.localisation
            if loc.state_coords.shape[0] != n or loc.obs_coords.shape[0] != p:
                raise ValueError(
                    f"the localisation's coordinates ({loc.state_coords.shape[0]}, "
                    f"{loc.obs_coords.shape[0]}) must match the state and observations ({n}, {p})"
                )
        scale = 1.0 / jnp.sqrt(members - 1.0)
        x_mean = jnp.mean(x, axis=0)
        a = self.inflation * (x - x_mean) * scale  # (members, n)
        x = x_mean + a / scale  # the inflated forecast members
        hx_mean = jnp.mean(hx, axis=0)
        yy = self.inflation * (hx - hx_mean) * scale  # (members, p)
        hx = hx_mean + yy / scale
        innov = y + std * jax.random.normal(key, (members, p), x.dtype) - hx  # (members, p)
        s = yy.T @ yy
        if self.localisation is not None:
            s = self.localisation.obs_obs() * s
        s = s + jnp.diag(std**2)
        w = jax.scipy.linalg.solve(s, innov.T, assume_a="pos")  # (p, members)
        if self.localisation is not None:
            gain_part = self.localisation.state_obs() * (a.T @ yy)  # (n, p)
            return x + (gain_part @ w).T
        if n * p <= members * members:
            return x + ((a.T @ yy) @ w).T
        return x + (a.T @ (yy @ w)).T  # through the members x members matrix

    def __call__(self, ensemble, observation, *, key):
        return self.analysis(ensemble, observation, key=key)
