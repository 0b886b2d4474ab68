"""The two-layer quasi-geostrophic model of MEDIDA's QG study (Mojgani, Chattopadhyay & Hassanzadeh, JAMES
2024): a β-plane channel of a jet forced by relaxation to an equilibrium shear, sponge layers at the y-edges,
on a doubly periodic spectral grid.

With `q_k` the layers' potential-vorticity anomalies (the full PV less `βy`, and less the topography `R` in
the lower layer), `q_1 = ∇²ψ_1 - (ψ_1 - ψ_2)`, `q_2 = ∇²ψ_2 + (ψ_1 - ψ_2)` (deformation wavenumber² 2), and

    ∂_t q_1 = -c_J J(ψ_1, q_1) - β ∂_x ψ_1 + τ_d1 (ψ_1 - ψ_2) - τ_d2 ψ_R - s(y)(q_1 - <q_1>_x) - ν ∇⁸ q_1,
    ∂_t q_2 = -c_J J(ψ_2, q_2 + R) - β ∂_x ψ_2 - τ_d1 (ψ_1 - ψ_2) + τ_d2 ψ_R - s(y)(q_2 + R - <q_2 + R>_x)
              - τ_f ∇²ψ_2 - ν ∇⁸ q_2,

with `<.>_x` the zonal mean, `ψ_R = -∫ u_eq dy` the equilibrium interface (jet `u_eq(y) = U_1 [sech²(y_c/σ) -
sech²(y_e/σ)]`, `y_c` the distance from the centre line and `y_e` to the nearest y-edge), the sponge
`s(y) = U_1 sech²(y_e/σ)`, Jacobians dealiased by Orszag's 3/2 rule and "∇⁸" the reference's `k⁸ + l⁸`. Time
stepping as the reference code: one forward-Euler step, then leapfrog with the Robert-Asselin filter `g`,
the hyperviscosity implicit in both. Defaults are the reference constants (`ν = 1e-6`, `τ_d = 0.01`,
`τ_f = 0.07`, `β = 0.196`, `σ = 3.5`, `U_1 = 1`, `c_J = 1`, `Lx = 46`, `Ly = 68`, 96 x 192 points,
`Δt = 0.025`, `g = 0.04`).

One departure, for a cleaner model: the reference transforms the full PV, `βy` included, to spectral space;
`βy` is not periodic, so its hyperviscosity acts on a sawtooth at the y-edges (inside the sponge). Here the
state is the periodic anomaly, and the hyperviscosity acts on it alone.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from scimlx.core.validate import check_int, check_number

__all__ = ["QG_CASES", "TwoLayerQG", "qg_case_error", "qg_topography"]

_REFERENCE = dict(nu=1e-6, tau_d1=0.01, tau_d2=0.01, tau_f=0.07, beta=0.196, c_jac=1.0)

# MEDIDA-QG's model-error cases (no topography): the imperfect model's constants that differ from the
# reference's.
QG_CASES: dict[int, dict[str, float]] = {
    1001: {"tau_d1": 0.11, "tau_d2": 0.11},
    1002: {"tau_d1": 0.11, "tau_d2": 0.11, "tau_f": 0.37},
    1003: {"tau_d1": 0.0, "tau_d2": 0.0},
    1004: {"c_jac": 0.5},
    1005: {"tau_d1": 0.11, "tau_d2": 0.11, "tau_f": 0.37, "c_jac": 0.0},
    1006: {"tau_f": 0.37},
    1007: {"tau_f": 0.0},
    1008: {"tau_d2": 0.0},
    1009: {"beta": 0.0},
}


def qg_case_error(case: int) -> tuple[dict[str, float], dict[str, float]]:
    """The model error of a MEDIDA-QG case per layer: the terms (named as in
    [`QGLibrary`][scimlx.control.QGLibrary] with `split_gradient=True`) to add to the imperfect model's
    `∂_t q_1` and `∂_t q_2` to recover the reference."""
    if case not in QG_CASES:
        raise ValueError(f"unknown MEDIDA-QG case {case!r}; cases: {sorted(QG_CASES)}")
    m = dict(_REFERENCE, **QG_CASES[case])
    r = _REFERENCE
    one: dict[str, float] = {}
    two: dict[str, float] = {}
    dd1, dd2 = r["tau_d1"] - m["tau_d1"], r["tau_d2"] - m["tau_d2"]
    if dd1:
        one.update({"psi1": dd1, "psi2": -dd1})
        two.update({"psi1": -dd1, "psi2": dd1})
    if dd2:
        one["psi_R"], two["psi_R"] = -dd2, dd2
    if r["tau_f"] != m["tau_f"]:
        two["lap(psi2)"] = -(r["tau_f"] - m["tau_f"])
    if r["c_jac"] != m["c_jac"]:
        one["J1"], two["J2"] = -(r["c_jac"] - m["c_jac"]), -(r["c_jac"] - m["c_jac"])
    if r["beta"] != m["beta"]:
        one["psi1_x"], two["psi2_x"] = -(r["beta"] - m["beta"]), -(r["beta"] - m["beta"])
    return one, two


def qg_topography(
    model: "TwoLayerQG",
    heights=(20.0, 20.0, 20.0, 20.0),
    centres=((0.0, 0.0), (-10.0, -5.0), (0.0, 20.0), (0.0, -20.0)),
    width: float = 5.0,
) -> np.ndarray:
    """MEDIDA-QG's topographic PV: Gaussian mountains of the given heights at `centres` `(x, y)`, on `model`'s
    grid, `(ny, nx)`. As the reference codes it, the y-exponent is `(y - y0)² / (2 · 2 width)` (not
    `2 width²`). Reference run: four mountains of 20; its topography-error variant gives the model heights
    `(20, 10, 15, 5)`. That error enters as `J(ψ_2, ΔR)`, which the reference's library does not hold."""
    if len(heights) != len(centres):
        raise ValueError(f"`heights` ({len(heights)}) and `centres` ({len(centres)}) must match")
    width = check_number("width", width, low=0.0, low_open=True)
    x, y = model.coordinates
    xx, yy = np.meshgrid(x, y)
    out = np.zeros_like(xx)
    for h, (x0, y0) in zip(heights, centres):
        out += h * np.exp(-((xx - x0) ** 2) / (2 * width**2) - (yy - y0) ** 2 / (2 * width * 2))
    return out


class TwoLayerQG(eqx.Module):
    """The two-layer QG model of MEDIDA's QG study (module docstring), on physical-space PV anomalies
    `(2, ny, nx)`.

    **Arguments:**

    - `nx`, `ny`: grid points in x and y (even; reference 96 and 192).
    - `lx`, `ly`: the domain's size (reference 46 and 68); `x, y` run over `[-L/2, L/2)`.
    - `dt`: the time step (reference 0.025).
    - `nu`, `tau_d1`, `tau_d2`, `tau_f`, `beta`, `c_jac`: the constants (reference 1e-6, 0.01, 0.01, 0.07,
        0.196, 1).
    - `sigma`, `u1`: the jet's width and strength (3.5 and 1); `u1 = 0` switches off the jet and the sponge.
    - `robert`: the Robert-Asselin filter coefficient (0.04).
    - `topography`: `None` or `(ny, nx)` topographic PV `R` of the lower layer.
    """

    nx: int = eqx.field(static=True)
    ny: int = eqx.field(static=True)
    lx: float = eqx.field(static=True)
    ly: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    nu: float = eqx.field(static=True)
    tau_d1: float = eqx.field(static=True)
    tau_d2: float = eqx.field(static=True)
    tau_f: float = eqx.field(static=True)
    beta: float = eqx.field(static=True)
    c_jac: float = eqx.field(static=True)
    robert: float = eqx.field(static=True)
    psi_r: Float[Array, " ny"]
    sponge: Float[Array, " ny"]
    topography: Float[Array, "ny nx"] | None
    correction: tuple | None = None  # (library, (2, m) coefficients): set by `corrected_qg_model`

    def __init__(
        self,
        nx: int = 96,
        ny: int = 192,
        lx: float = 46.0,
        ly: float = 68.0,
        dt: float = 0.025,
        *,
        nu: float = 1e-6,
        tau_d1: float = 0.01,
        tau_d2: float = 0.01,
        tau_f: float = 0.07,
        beta: float = 0.196,
        c_jac: float = 1.0,
        sigma: float = 3.5,
        u1: float = 1.0,
        robert: float = 0.04,
        topography: ArrayLike | None = None,
    ):
        for name, n in (("nx", nx), ("ny", ny)):
            check_int(name, n, low=4)
            if n % 2:
                raise ValueError(f"`{name}` must be even, got {n}")
        self.nx, self.ny = nx, ny
        self.lx = check_number("lx", lx, low=0.0, low_open=True)
        self.ly = check_number("ly", ly, low=0.0, low_open=True)
        self.dt = check_number("dt", dt, low=0.0, low_open=True)
        self.nu = check_number("nu", nu, low=0.0)
        self.tau_d1 = check_number("tau_d1", tau_d1)
        self.tau_d2 = check_number("tau_d2", tau_d2)
        self.tau_f = check_number("tau_f", tau_f)
        self.beta = check_number("beta", beta)
        self.c_jac = check_number("c_jac", c_jac)
        sigma = check_number("sigma", sigma, low=0.0, low_open=True)
        u1 = check_number("u1", u1)
        self.robert = check_number("robert", robert, low=0.0, high=0.5)
        dy = ly / ny
        i = np.arange(ny)
        y_centre = (i - ny / 2) * dy
        y_edge = np.minimum(i, ny - i - 1) * dy
        self.sponge = jnp.asarray(u1 / np.cosh(y_edge / sigma) ** 2)
        u_eq = u1 * (1 / np.cosh(y_centre / sigma) ** 2 - 1 / np.cosh(y_edge / sigma) ** 2)
        ll = 2 * np.pi * np.fft.fftfreq(ny, dy)
        with np.errstate(divide="ignore", invalid="ignore"):
            psi_hat = -np.fft.fft(u_eq) / (1j * ll)
        psi_hat[0] = 0.0
        self.psi_r = jnp.asarray(np.real(np.fft.ifft(psi_hat)))
        if topography is None:
            self.topography = None
        else:
            topo = np.asarray(topography, float)
            if topo.shape != (ny, nx):
                raise ValueError(f"`topography` must have shape ({ny}, {nx}), got {topo.shape}")
            self.topography = jnp.asarray(topo)

    @classmethod
    def from_case(cls, case: int, **kwargs) -> TwoLayerQG:
        """The imperfect model of a MEDIDA-QG case (`QG_CASES`); `kwargs` as for `TwoLayerQG`."""
        qg_case_error(case)  # checks the case
        return cls(**dict(QG_CASES[case], **kwargs))

    # -- grids and operators --------------------------------------------------------------------------------

    @property
    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """`x` `(nx,)` and `y` `(ny,)` on `[-L/2, L/2)`."""
        return (-self.lx / 2 + self.lx * np.arange(self.nx) / self.nx,
                -self.ly / 2 + self.ly * np.arange(self.ny) / self.ny)  # fmt: skip

    def _wavenumbers(self):
        k = 2 * np.pi * np.fft.rfftfreq(self.nx, self.lx / self.nx)
        ll = 2 * np.pi * np.fft.fftfreq(self.ny, self.ly / self.ny)
        return k[None, :], ll[:, None]

    def _hat(self, f):
        return jnp.fft.rfft2(f, axes=(-2, -1))

    def _real(self, fh):
        return jnp.fft.irfft2(fh, s=(self.ny, self.nx), axes=(-2, -1))

    def streamfunction_hat(self, qh):
        k, ll = self._wavenumbers()
        k2 = k**2 + ll**2
        with np.errstate(divide="ignore"):
            inv_bt = np.where(k2 == 0, 0.0, -1 / (2 * np.where(k2 == 0, 1.0, k2)))
        inv_bc = -1 / (2 * (k2 + 2))
        bt = (qh[0] + qh[1]) * inv_bt
        bc = (qh[0] - qh[1]) * inv_bc
        return jnp.stack([bt + bc, bt - bc])

    def streamfunction(self, q: Float[ArrayLike, "2 ny nx"]) -> Float[Array, "2 ny nx"]:  # noqa: F821
        """The layers' streamfunctions from the PV anomalies (zero-mean barotropic part)."""
        return self._real(self.streamfunction_hat(self._hat(jnp.asarray(q))))

    def potential_vorticity(self, psi: Float[ArrayLike, "2 ny nx"]) -> Float[Array, "2 ny nx"]:  # noqa: F821
        """The PV anomalies `(∇²ψ_1 - (ψ_1 - ψ_2), ∇²ψ_2 + (ψ_1 - ψ_2))` of the streamfunctions."""
        k, ll = self._wavenumbers()
        ph = self._hat(jnp.asarray(psi))
        lap = -(k**2 + ll**2) * ph
        return self._real(jnp.stack([lap[0] - (ph[0] - ph[1]), lap[1] + (ph[0] - ph[1])]))

    def _product(self, ah, bh):
        """The dealiased (3/2 rule) product of two fields given by their real FFTs."""
        ny, mx = self.ny, self.nx // 2 + 1
        py, px = 3 * self.ny // 2, 3 * self.nx // 2
        half = ny // 2

        def pad(fh):
            out = jnp.zeros(fh.shape[:-2] + (py, px // 2 + 1), fh.dtype)
            out = out.at[..., :half, :mx].set(fh[..., :half, :])
            return out.at[..., py - half :, :mx].set(fh[..., half:, :])

        scale = (py * px) / (self.ny * self.nx)
        a = jnp.fft.irfft2(pad(ah), s=(py, px), axes=(-2, -1)) * scale
        b = jnp.fft.irfft2(pad(bh), s=(py, px), axes=(-2, -1)) * scale
        ph = jnp.fft.rfft2(a * b, axes=(-2, -1)) / scale
        return jnp.concatenate([ph[..., :half, :mx], ph[..., py - half :, :mx]], axis=-2)

    def jacobian_hat(self, ah, bh):
        """`J(a, b) = a_x b_y - a_y b_x`, dealiased, from and to real FFTs."""
        k, ll = self._wavenumbers()
        ik, il = 1j * k, 1j * ll
        return self._product(ik * ah, il * bh) - self._product(il * ah, ik * bh)

    # -- the model ------------------------------------------------------------------------------------------

    def _tendency_hat(self, qh):
        """The right-hand side without the hyperviscosity, spectral in and out."""
        k, ll = self._wavenumbers()
        ph = self.streamfunction_hat(qh)
        rh = self._hat(self.topography) if self.topography is not None else 0.0
        q_star = jnp.stack([qh[0], qh[1] + rh])
        jac = self.c_jac * self.jacobian_hat(ph, q_star)
        beta_v = self.beta * 1j * k * ph
        psi = self._real(ph)
        q_full = self._real(q_star)
        relax = self.tau_d1 * (psi[0] - psi[1]) - self.tau_d2 * self.psi_r[:, None]
        sponge = self.sponge[:, None] * (q_full - jnp.mean(q_full, axis=-1, keepdims=True))
        forcing = jnp.stack([relax, -relax]) - sponge
        friction = jnp.stack([jnp.zeros_like(ph[1]), self.tau_f * (k**2 + ll**2) * ph[1]])
        if self.correction is not None:
            library, w = self.correction
            theta = library(self, psi)  # (ny, nx, m)
            forcing = forcing + jnp.moveaxis(theta @ w.T.astype(theta.dtype), -1, 0)
        return -jac - beta_v + self._hat(forcing) + friction

    def _hyper(self, dt):
        k, ll = self._wavenumbers()
        return 1.0 / (1.0 + dt * self.nu * (k**8 + ll**8))

    def tendency(self, q: Float[ArrayLike, "2 ny nx"]) -> Float[Array, "2 ny nx"]:  # noqa: F821
        """`∂_t q` at the PV anomalies `q` (hyperviscosity included)."""
        k, ll = self._wavenumbers()
        qh = self._hat(jnp.asarray(q))
        return self._real(self._tendency_hat(qh) - self.nu * (k**8 + ll**8) * qh)

    def start(self, q: Float[ArrayLike, "2 ny nx"]) -> tuple[Array, Array]:  # noqa: F821
        """The first step (forward Euler, implicit hyperviscosity): the state pair `(q^0, q^1)`."""
        q = jnp.asarray(q)
        qh = self._hat(q)
        new = (qh + self.dt * self._tendency_hat(qh)) * self._hyper(self.dt)
        return q, self._real(new)

    def step(self, state: tuple[ArrayLike, ArrayLike]) -> tuple[Array, Array]:
        """One leapfrog step with the Robert-Asselin filter: `(q^{n-1}, q^n) -> (q̄^n, q^{n+1})`, `q̄^n` the
        filtered state."""
        prev, cur = (jnp.asarray(s) for s in state)
        ph, ch = self._hat(prev), self._hat(cur)
        nh = (ph + 2 * self.dt * self._tendency_hat(ch)) * self._hyper(2 * self.dt)
        filtered = ch + self.robert * (ph - 2 * ch + nh)
        return self._real(filtered), self._real(nh)

    def run(self, q0: Float[ArrayLike, "2 ny nx"], n_steps: int, *, save_every: int = 1) -> Array:  # noqa: F821
        """`n_steps` steps from `q0` (Euler, then leapfrog): the states every `save_every` steps, `q0` not
        included, `(n_steps // save_every, 2, ny, nx)`."""
        check_int("n_steps", n_steps, low=1)
        check_int("save_every", save_every, low=1)
        if n_steps % save_every:
            raise ValueError(f"`n_steps` ({n_steps}) must be a multiple of `save_every` ({save_every})")
        state = self.start(q0)

        def block(state, _):
            state = jax.lax.fori_loop(0, save_every, lambda i, s: self.step(s), state)
            return state, state[1]

        # the first block has taken one step already (the Euler start)
        state = jax.lax.fori_loop(0, save_every - 1, lambda i, s: self.step(s), state)
        first = state[1]
        if n_steps == save_every:
            return first[None]
        _, rest = jax.lax.scan(block, state, None, length=n_steps // save_every - 1)
        return jnp.concatenate([first[None], rest])
