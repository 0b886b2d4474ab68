"""The Flax adapters give the Equinox model's outputs and gradients, and thread BatchNorm statistics."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from scimlx.core import Box
from scimlx.interop import Constant, NNXOperator, NNXPointModel, to_linen, to_nnx
from scimlx.operators import CAPE, FNO, LSM, MgNO, UNet, apply_batch
from scimlx.pinn import PIG, PINN
from scimlx.train import count_params, trainable
from tests.tiers import tiered

K = jax.random.key


_X2 = lambda: jax.random.normal(K(10), (2, 1, 16, 16))  # noqa: E731


def _cape():
    base = FNO(2, 2, ndim=1, modes=2, width=4, n_layers=1, projection=8, key=K(4))
    return CAPE(base, channels=1, n_params=1, shape=(16,), width=8, modes=2, key=K(5))


_BUILDERS = {  # small instances of every operator: (model and state, input batch, PDE parameters)
    "FNO": lambda: (FNO, dict(ndim=2, modes=3, width=4, n_layers=2, projection=8, key=K(0)), _X2(), None),
    "UNet": lambda: (UNet, dict(ndim=2, width=4, depth=2, key=K(1)), _X2(), None),
    "LSM": lambda: (LSM, dict(ndim=2, width=8, key=K(2)), _X2(), None),
    "MgNO": lambda: (MgNO, dict(width=4, n_layers=1, num_iteration=[[1, 0], [1, 0]], key=K(3)), _X2(), None),
}


@functools.cache
def operator(name: str):
    """`(model, state, x, pde_params)` of a small instance of the operator `name`."""
    if name == "CAPE":
        model, state = eqx.nn.make_with_state(_cape)()
        return model, state, jax.random.normal(K(11), (2, 1, 16)), jnp.array([[0.5], [1.5]])
    cls, kwargs, x, p = _BUILDERS[name]()
    return *eqx.nn.make_with_state(cls)(1, 1, **kwargs), x, p


OPERATORS = [*_BUILDERS, "CAPE"]


@eqx.filter_jit
def _eqx_value_and_grad(model, state, x, p):
    return eqx.filter_value_and_grad(
        lambda tm: _eqx_loss(eqx.combine(tm, model), state, x, p, False), has_aux=True
    )(trainable(model))


def _eqx_loss(model, state, x, p, inference):
    y, new_state = apply_batch(model, state, x, pde_params=p, inference=inference)
    return jnp.sum(jnp.sin(y) * y), (y, new_state)


def _grads_by_name(module_grads) -> dict:
    return {k: np.asarray(v[...]) for k, v in module_grads["params"].items()}


def _eqx_grads_by_name(adapter, grads) -> dict:
    leaves = jax.tree.leaves(grads)
    return dict(zip(adapter.layout.param_names, (np.asarray(g) for g in leaves), strict=True))


@pytest.mark.parametrize("name", tiered(OPERATORS, ["FNO"]))
def test_nnx_operator_matches_equinox(name):
    model, state, x, p = operator(name)
    adapter = to_nnx(model, state)
    assert isinstance(adapter, NNXOperator)
    n_params = sum(v[...].size * (2 if jnp.iscomplexobj(v[...]) else 1) for v in adapter.params.values())
    assert n_params == count_params(model)

    # training mode: outputs, gradients and the updated BatchNorm statistics
    (_, (y, new_state)), g = _eqx_value_and_grad(model, state, x, p)
    assert y.shape[0] == x.shape[0]
    y_ref, state_ref = apply_batch(model, state, x, pde_params=p)  # as the adapter runs it: eagerly
    np.testing.assert_array_equal(adapter(x, pde_params=p), y_ref)  # one training-mode call
    stats = jax.tree.leaves(adapter.to_equinox()[1])
    assert len(stats) == len(jax.tree.leaves(state))
    for a, b in zip(stats, jax.tree.leaves(state_ref)):
        np.testing.assert_array_equal(a, b)
    adapter_loss = lambda m: jnp.sum(jnp.sin(out := m(x, pde_params=p)) * out)  # noqa: E731
    g_nnx = nnx.jit(nnx.grad(adapter_loss))(to_nnx(model, state))
    got, want = _grads_by_name(nnx.to_pure_dict(g_nnx)), _eqx_grads_by_name(adapter, g)
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-7, err_msg=k)

    # evaluation mode: the running statistics, unchanged
    adapter.eval()
    frozen = [np.asarray(v) for v in jax.tree.leaves(adapter.to_equinox()[1])]
    y_eval, _ = apply_batch(*adapter.to_equinox(), x, pde_params=p, inference=True)
    np.testing.assert_array_equal(adapter(x, pde_params=p), y_eval)
    for a, b in zip(jax.tree.leaves(adapter.to_equinox()[1]), frozen):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", tiered(["UNet", "CAPE"], []))
def test_linen_operator_matches_equinox(name):
    model, state, x, p = operator(name)
    module, variables = to_linen(model, state)
    assert jax.tree.structure(module.init(K(0), x, pde_params=p)) == jax.tree.structure(variables)
    (_, (y, new_state)), g = _eqx_value_and_grad(model, state, x, p)

    def loss(params):
        out, updated = module.apply({**variables, "params": params}, x, pde_params=p, mutable=["batch_stats"])
        return jnp.sum(jnp.sin(out) * out), (out, updated)

    (_, (out, updated)), g_linen = jax.jit(jax.value_and_grad(loss, has_aux=True))(variables["params"])
    np.testing.assert_allclose(out, y, rtol=1e-6, atol=1e-7)  # two compiled programs
    for k, v in zip(variables["params"], jax.tree.leaves(g)):
        np.testing.assert_allclose(g_linen[k], v, rtol=1e-6, atol=1e-7, err_msg=k)
    if state is not None and jax.tree.leaves(state):
        got = [updated["batch_stats"][n] for n in module.layout.stat_names]
        for a, b in zip(got, jax.tree.leaves(new_state), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    y_eval, _ = apply_batch(model, state, x, pde_params=p, inference=True)
    np.testing.assert_array_equal(module.apply(variables, x, pde_params=p, use_running_average=True), y_eval)


def _point_models():
    box = Box((-1.0, 0.0), (1.0, 1.0))
    yield "PINN", PINN(2, 16, 2, box=box, fourier_features=8, key=K(6))
    yield "PIG", PIG(2, 12, box=box, sigma_init=0.3, key=K(7))


@functools.cache
def point_models() -> dict:
    return dict(_point_models())


@pytest.mark.parametrize("name", tiered(["PINN", "PIG"], ["PIG"]))
def test_point_models_match_equinox(name):
    model = point_models()[name]
    z = jax.random.uniform(K(8), (32, 2))
    adapter = to_nnx(model)
    assert isinstance(adapter, NNXPointModel)
    # constants (the input map, Fourier features) are not parameters
    assert sum(v[...].size for v in adapter.params.values()) == count_params(model)
    n_arrays = len(jax.tree.leaves(eqx.filter(model, eqx.is_array)))
    n_consts = n_arrays - len(jax.tree.leaves(trainable(model)))
    assert n_consts > 0 and len(jax.tree.leaves(nnx.state(adapter, Constant))) == n_consts

    # a physics-style loss: the Laplacian of the model at the points, through jax.hessian in z
    def residual(m, z):
        return jnp.trace(jax.hessian(m)(z)) + m(z)

    want_y = model.predict(z)
    np.testing.assert_array_equal(adapter.predict(z), want_y)
    g = eqx.filter_grad(
        lambda tm: jnp.mean(jax.vmap(lambda zi: residual(eqx.combine(tm, model), zi))(z) ** 2)
    )(trainable(model))
    g_nnx = nnx.grad(lambda m: jnp.mean(jax.vmap(lambda zi: residual(m, zi))(z) ** 2))(adapter)
    got, want = _grads_by_name(nnx.to_pure_dict(g_nnx)), _eqx_grads_by_name(adapter, g)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-8, err_msg=k)

    module, variables = to_linen(model)
    np.testing.assert_array_equal(jax.vmap(lambda zi: module.apply(variables, zi))(z), want_y)


def test_nnx_training_step_moves_the_equinox_model():
    """An optax step through `nnx.Optimizer` trains the adapter; `to_equinox` returns the trained model."""
    model = point_models()["PINN"]
    adapter = to_nnx(model)
    optimizer = nnx.Optimizer(adapter, optax.sgd(0.01), wrt=nnx.Param)
    z = jax.random.uniform(K(9), (16, 2))

    def loss(m):
        return jnp.mean(m.predict(z) ** 2)

    @nnx.jit
    def step(m, opt):
        value, grads = nnx.value_and_grad(loss)(m)
        opt.update(m, grads)
        return value

    before = float(loss(adapter))
    step(adapter, optimizer)
    trained = adapter.to_equinox()
    after = float(jnp.mean(trained.predict(z) ** 2))
    assert after < 0.9 * before
    np.testing.assert_allclose(after, float(loss(adapter)), rtol=1e-6)
    # the Fourier matrix and input map did not move
    np.testing.assert_array_equal(trained.fourier.array, model.fourier.array)
    np.testing.assert_array_equal(trained.shift.array, model.shift.array)


def test_errors():
    model, state, *_ = operator("LSM")
    with pytest.raises(TypeError, match="`model` is a \\(model, state\\) pair"):
        to_nnx((model, state))
    with pytest.raises(TypeError, match="`state` must be"):
        to_nnx(model, {"a": 1})
    with pytest.raises(ValueError, match="`state` given, but a point model"):
        to_nnx(point_models()["PIG"], state)
    with pytest.raises(TypeError, match="point model"):
        NNXOperator(point_models()["PIG"])
    with pytest.raises(TypeError, match="`model` must be"):
        to_linen(lambda x: x)


def test_readme_example():
    """README's Flax example runs: one Adam step on the adapter lowers the loss, `to_equinox` keeps it."""
    from tests.readme import run_readme_block

    ns = run_readme_block(13, "to_nnx(model)")
    net, loss, x, trained = ns["net"], ns["loss"], ns["x"], ns["model"]
    assert ns["state"] is None
    y, _ = apply_batch(trained, None, x)
    np.testing.assert_array_equal(net(x), y)
    untrained = FNO(1, 1, modes=8, width=16, n_layers=2, key=jax.random.key(0))
    assert float(loss(net)) < float(loss(to_nnx(untrained)))
