"""The fractional latent SDE: the Brownian fallback is the standard latent SDE step for step, the path KL
agrees with a Monte Carlo Girsanov estimate (and the change of measure has mean one under the prior), the
solver's covariance is that of its own discretisation, gradients in H match finite differences, clear
errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx import sde


class _Diffusion(eqx.Module):
    """A state-dependent diffusion, so that the fallback test sees `s(t, x)` multiply the control."""

    def __call__(self, t, x):
        return 1.0 + 0.1 * x**2 + 0.05 * jnp.sin(t)


def _perturbed_control(dim, k, seed):
    ctrl = sde.MLPControl(dim, k, width=16, key=jax.random.key(seed))
    last = ctrl.mlp.layers[-1]
    w = 0.3 * jax.random.normal(jax.random.key(seed + 1), last.weight.shape, last.weight.dtype)
    return eqx.tree_at(lambda c: c.mlp.layers[-1].weight, ctrl, w)


@pytest.mark.slow
def test_brownian_fallback_elbo_equals_the_plain_latent_sde(x64):
    """`kind='brownian'`: `dX = (b + s u) dt + s dW` with KL `1/2 ∫ |(f - b)/s|^2 dt`, `f = b + s u`, equal
    to a plain Euler-Maruyama latent SDE on the same increments (its control fed `W + ∫u`, the one OU state),
    step for step, to round-off."""
    dim, dt, n = 2, 0.02, 50
    drift = sde.LinearDrift(jnp.array([0.5, 1.5]))
    control = _perturbed_control(dim, 1, 2)
    model = sde.FractionalSDE(drift, _Diffusion(), control, dim=dim, kind="brownian")
    ts = jnp.linspace(0.0, 1.0, n + 1)
    x0 = jnp.array([0.3, -0.2])
    key = jax.random.key(7)
    sol = jax.jit(lambda k: model.solve(ts, x0, key=k, dt=dt))(key)
    k_w, _ = jax.random.split(key)
    dw = jax.random.normal(k_w, (n, dim), jnp.float64) * jnp.sqrt(dt)
    x, y, kl = x0, jnp.zeros((1, dim)), 0.0
    for i in range(n):
        t = ts[i]
        b, s = drift(t, x), _Diffusion()(t, x)
        u = control(t, x, y, None)
        f = b + s * u
        kl = kl + 0.5 * jnp.sum(((f - b) / s) ** 2) * dt
        x, y = x + f * dt + s * dw[i], y + u * dt + dw[i]
        np.testing.assert_allclose(sol.xs[i + 1], x, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(sol.kl[i + 1], kl, rtol=1e-12, atol=1e-14)
    # the ELBO of one observation, the same either way
    obs, sig = jnp.array([0.1, 0.2]), 0.3
    ll = lambda xt: -0.5 * jnp.sum((obs - xt) ** 2) / sig**2  # noqa: E731
    assert float(ll(sol.xs[-1]) - sol.kl[-1]) == pytest.approx(float(ll(x) - kl), rel=1e-12)


@pytest.mark.slow
def test_path_kl_against_girsanov(x64):
    """KL(Q || P) = E_Q[log dQ/dP]: the log-likelihood ratio of the paths (from the transitions of the first
    OU state, which carries the common noise) averaged over posterior paths equals the mean path KL; and under
    the prior, E_P[dQ/dP] = 1."""
    dim, dt, n, paths = 1, 0.02, 50, 4000
    model = sde.FractionalSDE(
        sde.LinearDrift(1.0), sde.ConstantDiffusion(0.7), _perturbed_control(dim, 3, 4),
        dim=dim, hurst=0.3, kind="I", num_states=3, gamma_max=5.0, horizon=1.0,
    )  # fmt: skip
    ts = jnp.linspace(0.0, 1.0, n + 1)
    g = model.gammas.value

    def log_ratio(sol):
        # u along the saved path (the Euler step uses the left point), and the first state's increments
        u = jax.vmap(lambda t, x, y: model.control(t, x, y, None))(ts[:-1], sol.xs[:-1], sol.ys[:-1])[:, 0]
        y1 = sol.ys[:, 0, 0]
        dy = y1[1:] - y1[:-1] + g[0] * y1[:-1] * dt  # = u dt + dW under Q, = dW under P
        return jnp.sum((dy**2 - (dy - u * dt) ** 2) / (2 * dt))

    keys = jax.random.split(jax.random.key(3), paths)
    post = jax.jit(jax.vmap(lambda k: model.solve(ts, jnp.zeros(1), key=k, dt=dt)))(keys)
    lr_q = jax.vmap(log_ratio)(post)
    kl = post.kl[:, -1]
    se = float(jnp.std(lr_q - kl)) / np.sqrt(paths)
    assert float(jnp.mean(kl)) > 0.05  # a control that matters
    assert abs(float(jnp.mean(lr_q) - jnp.mean(kl))) < 4 * se
    prior = jax.jit(jax.vmap(lambda k: model.solve(ts, jnp.zeros(1), key=k, dt=dt, prior=True)))(keys)
    w = jnp.exp(jax.vmap(log_ratio)(prior))
    assert abs(float(jnp.mean(w)) - 1.0) < 4 * float(jnp.std(w)) / np.sqrt(paths)


@pytest.mark.slow
@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_prior_covariance_is_that_of_the_scheme(x64, solver):
    """The solver's prior paths have the covariance of the scheme's recursion for the augmented linear system
    (computed exactly: Euler `z + F z dt + G dW`; Heun, for this additive noise,
    `z + F z dt + F^2 z dt^2 / 2 + (I + F dt / 2) G dW`), close to the exact law at this step."""
    dt, n, paths = 0.05, 20, 8000
    model = sde.FractionalSDE(
        sde.LinearDrift(0.5), sde.ConstantDiffusion(1.2), None, dim=1, hurst=0.7, kind="II",
        num_states=3, gamma_max=4.0, horizon=1.0,
    )  # fmt: skip
    ts = jnp.linspace(0.0, 1.0, n + 1)
    sols = jax.jit(jax.vmap(lambda k: model.solve(ts, jnp.zeros(1), key=k, dt=dt, solver=solver)))(
        jax.random.split(jax.random.key(0), paths)
    )
    f, gvec = sde.augmented_system(0.5, 1.2, model.omega, model.gammas.value)
    f, gvec = np.asarray(f), np.asarray(gvec)
    if solver == "euler":
        mat, noise = np.eye(4) + dt * f, gvec
    else:
        mat, noise = np.eye(4) + dt * f + 0.5 * dt**2 * f @ f, (np.eye(4) + 0.5 * dt * f) @ gvec
    p = np.zeros((4, 4))
    for _ in range(n):
        p = mat @ p @ mat.T + dt * np.outer(noise, noise)
    z = np.concatenate([np.asarray(sols.xs[:, -1]), np.asarray(sols.ys[:, -1, :, 0])], axis=1)
    emp = np.cov(z.T)
    se = np.sqrt((p**2 + np.outer(np.diag(p), np.diag(p))) / paths)
    assert np.all(np.abs(emp - p) < 5 * se)
    exact = np.asarray(sde.path_covariance(n, dt, 0.5, 1.2, model.omega, model.gammas.value, "II")[0][-1])
    assert abs(p[0, 0] - exact[0, 0]) < 0.1 * exact[0, 0]


@pytest.mark.slow
def test_gradient_in_hurst_matches_finite_differences(x64):
    model = sde.FractionalSDE(
        sde.LinearDrift(0.3), sde.ConstantDiffusion(1.0), _perturbed_control(1, 4, 6),
        dim=1, hurst=0.4, learn_hurst=True, num_states=4, horizon=1.0,
    )  # fmt: skip
    ts = jnp.linspace(0.0, 1.0, 21)
    keys = jax.random.split(jax.random.key(1), 8)

    def loss(logit):
        m = eqx.tree_at(lambda m: m.hurst_logit, model, logit)
        sols = jax.vmap(lambda k: m.solve(ts, jnp.zeros(1), key=k, dt=0.025))(keys)
        return jnp.mean(sols.kl[:, -1] + sols.xs[:, -1, 0] ** 2)

    logit = model.hurst_logit
    grad = jax.jit(jax.grad(loss))(logit)
    fd = (loss(logit + 1e-5) - loss(logit - 1e-5)) / 2e-5
    assert np.isfinite(float(grad)) and abs(float(grad)) > 1e-3
    assert float(grad) == pytest.approx(float(fd), rel=1e-5)


def test_bad_input():
    key = jax.random.key(0)
    drift, diff = sde.LinearDrift(), sde.ConstantDiffusion()
    with pytest.raises(ValueError, match="hurst"):
        sde.FractionalSDE(drift, diff, dim=1, hurst=1.0)
    with pytest.raises(ValueError, match="kind"):
        sde.FractionalSDE(drift, diff, dim=1, kind="III")
    with pytest.raises(ValueError, match="brownian"):
        sde.FractionalSDE(drift, diff, dim=1, kind="brownian", hurst=0.3)
    with pytest.raises(ValueError, match="num_states"):
        sde.FractionalSDE(drift, diff, dim=1, num_states=0)
    with pytest.raises(ValueError, match="gammas"):
        sde.FractionalSDE(drift, diff, dim=1, gammas=[1.0, 0.0])
    with pytest.raises(TypeError, match="drift"):
        sde.FractionalSDE("b", diff, dim=1)
    with pytest.raises(ValueError, match="theta"):
        sde.LinearDrift(-1.0)
    with pytest.raises(ValueError, match="sigma"):
        sde.ConstantDiffusion(0.0)
    model = sde.FractionalSDE(drift, diff, dim=2)
    ts = jnp.linspace(0.0, 1.0, 11)
    with pytest.raises(ValueError, match="x0"):
        model.solve(ts, jnp.zeros(3), key=key, dt=0.01)
    with pytest.raises(ValueError, match="gamma_max"):
        model.solve(ts, jnp.zeros(2), key=key, dt=0.05)
    with pytest.raises(ValueError, match="divide"):
        model.solve(ts, jnp.zeros(2), key=key, dt=0.003)
    with pytest.raises(ValueError, match="ts"):
        model.solve(ts[::-1], jnp.zeros(2), key=key, dt=0.01)
    with pytest.raises(ValueError, match="solver"):
        model.solve(ts, jnp.zeros(2), key=key, dt=0.01, solver="milstein")
