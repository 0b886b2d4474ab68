"""The operator training recipes: loss, normalisation, autoregressive rollout, training through `fit`."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.operators._common import BatchNorm, apply_batch
from scimlx.operators._training import (
    OperatorConfig,
    UnitGaussianNormalizer,
    evaluate_operator,
    relative_h1,
    relative_l2,
    rollout,
    train_operator,
)
from scimlx.train import RunOptions, count_params
from tests.readme import run_readme_block


class PointwiseBN(eqx.Module):
    """A tiny stateful operator: 1x1 conv, BatchNorm, 1x1 conv (the calling convention of the operators)."""

    conv1: eqx.nn.Conv2d
    bn: BatchNorm
    conv2: eqx.nn.Conv2d

    def __init__(self, c_in, c_out, *, key):
        k1, k2 = jax.random.split(key)
        self.conv1 = eqx.nn.Conv2d(c_in, 16, 1, key=k1)
        self.bn = BatchNorm(16)
        self.conv2 = eqx.nn.Conv2d(16, c_out, 1, key=k2)

    def __call__(self, x, state, *, key=None):
        h, state = self.bn(self.conv1(x), state)
        return self.conv2(jnp.tanh(h)), state


class Shift(eqx.Module):
    """Predicts `last frame + c` (a stateless operator with a known rollout)."""

    c: jax.Array

    def __call__(self, x, state, *, key=None):
        return x[-1:] + self.c, state


def test_relative_l2_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 2, 5, 5)), rng.normal(size=(3, 2, 5, 5))
    expected = [np.linalg.norm(a[i] - b[i]) / np.linalg.norm(b[i]) for i in range(3)]
    np.testing.assert_allclose(relative_l2(jnp.asarray(a), jnp.asarray(b)), expected, rtol=1e-6)


def _reference_h1(a, b, truncation):
    """MgNO's HsLoss(k=1) per sample, written out with the reference's wavenumber list (channels first)."""
    out = []
    for i in range(a.shape[0]):
        weight = 1.0
        for axis, n in enumerate(a.shape[2:]):
            k = np.abs(np.concatenate([np.arange(0, n // 2), np.arange((-n) // 2, 0)]))  # torch: -n//2
            if truncation:
                k = k * (k < truncation)
            shape = [1] * (a.ndim - 2)
            shape[axis] = n
            weight = weight + (k**2).reshape(shape)
        fa = np.fft.fftn(a[i], axes=range(1, a.ndim - 1), norm="ortho") * np.sqrt(weight)
        fb = np.fft.fftn(b[i], axes=range(1, a.ndim - 1), norm="ortho") * np.sqrt(weight)
        out.append(np.linalg.norm(fa - fb) / np.linalg.norm(fb))
    return np.array(out)


# odd sizes: the reference lists |k| = (n+1)/2 where fftfreq has (n-1)/2; truncation at 20 removes both when
# (n+1)/2 >= 20 (as at 211 x 211), so the 45 x 41 case compares odd sizes
@pytest.mark.parametrize("shape,truncation", [((8, 8), 3), ((8, 6), None), ((45, 41), 20), ((12,), 4)])
def test_relative_h1_matches_the_reference_formula(shape, truncation):
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(3, 2, *shape)), rng.normal(size=(3, 2, *shape))
    got = relative_h1(jnp.asarray(a), jnp.asarray(b), truncation=truncation)
    np.testing.assert_allclose(got, _reference_h1(a, b, truncation), rtol=1e-5)
    # smooth errors weigh less in H1 than in L2, oscillating ones more
    x = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    target = jnp.asarray(np.sin(x) + 2.0)[None, None]
    low, high = target + 0.1 * jnp.sin(jnp.asarray(x)), target + 0.1 * jnp.sin(7 * jnp.asarray(x))
    assert float(relative_h1(low, target)[0]) < float(relative_h1(high, target)[0])
    np.testing.assert_allclose(relative_l2(low, target), relative_l2(high, target), rtol=1e-5)


def test_unit_gaussian_normalizer():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(3.0, 2.0, size=(50, 1, 4, 4)))
    norm = UnitGaussianNormalizer.fit(x)
    np.testing.assert_allclose(norm.std, np.std(np.asarray(x), axis=0, ddof=1), rtol=1e-5)  # torch.std
    np.testing.assert_allclose(norm.decode(norm.encode(x)), x, rtol=1e-5, atol=1e-5)
    assert abs(float(norm.encode(x).mean())) < 1e-5
    with pytest.raises(ValueError, match="2 samples"):
        UnitGaussianNormalizer.fit(x[:1])


def test_rollout_slides_the_window():
    x = jnp.arange(2 * 3 * 4 * 4, dtype=jnp.float32).reshape(2, 3, 4, 4)
    frames, _ = rollout(Shift(jnp.asarray(1.0)), None, x, 4)
    assert frames.shape == (2, 4, 4, 4)
    for t in range(4):
        np.testing.assert_allclose(frames[:, t], x[:, -1] + (t + 1))


def test_steady_training_fits_a_map_and_keeps_batchnorm_state(getkey):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 1, 8, 8)).astype(np.float32)
    y = (np.sin(x) + 0.5 * x + 2.0).astype(np.float32)
    model, state = eqx.nn.make_with_state(PointwiseBN)(1, 1, key=getkey())
    before = evaluate_operator(model, state, x, y)
    config = OperatorConfig(epochs=60, batch_size=10, learning_rate=1e-2, step_size=20)
    res = train_operator(
        model,
        state,
        x[:32],
        y[:32],
        key=getkey(),
        config=config,
        x_test=x[32:],
        y_test=y[32:],
        run=RunOptions(progress=False),
    )
    loss = res.history["loss"]
    assert loss[-1] < loss[0] / 10
    err = res.history["eval"][-1][1]["test_rel_l2"]
    after = evaluate_operator(
        res.model, res.state, x[32:], y[32:], x_normalizer=res.x_normalizer, y_normalizer=res.y_normalizer
    )
    # inference mode (running BatchNorm statistics) on unseen samples: a fraction of the untrained error
    assert after == pytest.approx(err) and after < before / 5
    # BatchNorm's running statistics moved away from their initial values
    init_leaves = jax.tree_util.tree_leaves(state)
    new_leaves = jax.tree_util.tree_leaves(res.state)
    assert any(not np.allclose(a, b) for a, b in zip(init_leaves, new_leaves))
    assert res.seconds_per_epoch > 0


def test_autoregressive_loss_is_summed_over_steps_and_batch(getkey):
    """A model predicting zeros has relative L2 = 1 at every step: the first loss is batch * t_out."""

    class Zero(eqx.Module):
        w: jax.Array

        def __call__(self, x, state, *, key=None):
            return 0.0 * self.w * x[-1:], state

    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 3, 4, 4)).astype(np.float32)
    y = rng.normal(size=(8, 5, 4, 4)).astype(np.float32)
    config = OperatorConfig(epochs=1, batch_size=4, normalize=None)
    res = train_operator(
        Zero(jnp.ones(())), None, x, y, key=getkey(), task="autoregressive", config=config,
        run=RunOptions(progress=False),
    )  # fmt: skip
    np.testing.assert_allclose(res.history["loss"], [4 * 5, 4 * 5], rtol=1e-6)


def test_autoregressive_training_learns_a_shift(getkey):
    """u_{t+1} = u_t + 0.3: the rollout loss (full backpropagation) drives c to 0.3."""
    rng = np.random.default_rng(4)
    base = rng.normal(size=(16, 1, 4, 4)).astype(np.float32) + 5.0
    traj = base + 0.3 * np.arange(8, dtype=np.float32)[None, :, None, None]
    x, y = traj[:, :3], traj[:, 3:]
    config = OperatorConfig(epochs=60, batch_size=8, learning_rate=5e-2, weight_decay=0.0, normalize=None)
    res = train_operator(
        Shift(jnp.asarray(0.0)),
        None,
        x,
        y,
        key=getkey(),
        task="autoregressive",
        config=config,
        run=RunOptions(progress=False),
    )
    assert abs(float(res.model.c) - 0.3) < 0.02
    err = evaluate_operator(res.model, res.state, x, y, task="autoregressive")
    assert err < 0.01


def test_mgno_recipe_one_cycle_and_h1_loss(getkey):
    darcy, ns = OperatorConfig.mgno(), OperatorConfig.mgno("navier_stokes")
    assert (darcy.schedule, darcy.loss, darcy.batch_size, darcy.learning_rate, darcy.pct_start) == (
        "one_cycle", "h1", 8, 5e-4, 0.2)
    assert (ns.loss, ns.learning_rate, ns.weight_decay, ns.final_div_factor, ns.normalize) == (
        "l2", 1e-3, 1e-5, 50.0, None)
    # a model predicting zeros has relative H1 = 1 per sample: the first losses are the batch size
    class Zero(eqx.Module):
        w: jax.Array

        def __call__(self, x, state, *, key=None):
            return 0.0 * self.w * x, state

    rng = np.random.default_rng(6)
    x = rng.normal(size=(8, 1, 6, 6)).astype(np.float32)
    config = OperatorConfig.mgno(epochs=2, batch_size=4, normalize=None)
    res = train_operator(Zero(jnp.ones(())), None, x, x + 1.0, key=getkey(), config=config,
                         run=RunOptions(progress=False))
    np.testing.assert_allclose(res.history["loss"], [4.0] * 4, rtol=1e-6)
    # the optimiser cycles the rate and Adam's b1 once per epoch over the run's epochs
    opt = config.optimizer(steps_per_epoch=2, epochs=10)
    state = opt.init({"w": jnp.ones(())})
    seen = []
    for _ in range(8):
        seen.append((float(state.hyperparams["learning_rate"]), float(state.hyperparams["b1"])))
        _, state = opt.update({"w": jnp.ones(())}, state, {"w": jnp.ones(())})
    assert seen[0] == seen[1] and seen[0][0] == pytest.approx(2.5e-4) and seen[0][1] == pytest.approx(0.95)
    assert len(set(seen)) == 4  # one value per epoch


def test_bad_input(getkey):
    model, state = eqx.nn.make_with_state(PointwiseBN)(1, 1, key=getkey())
    x = np.zeros((4, 1, 8, 8), np.float32)
    with pytest.raises(ValueError, match="task"):
        train_operator(model, state, x, x, key=getkey(), task="unsteady")
    with pytest.raises(ValueError, match="batch_size"):
        train_operator(model, state, x, x, key=getkey(), config=OperatorConfig(batch_size=5))
    with pytest.raises(ValueError, match="disagree"):
        train_operator(model, state, x, x[:3], key=getkey())
    with pytest.raises(ValueError, match="both"):
        train_operator(model, state, x, x, key=getkey(), x_test=x)
    with pytest.raises(ValueError, match="epochs"):
        OperatorConfig(epochs=0)
    with pytest.raises(ValueError, match="normalize"):
        OperatorConfig(normalize="minmax")
    with pytest.raises(ValueError, match="loss"):
        OperatorConfig(loss="h2")
    with pytest.raises(ValueError, match="schedule"):
        OperatorConfig(schedule="cosine")
    with pytest.raises(ValueError, match="task"):
        OperatorConfig.mgno("pipe")
    with pytest.raises(ValueError, match="shape"):
        relative_h1(jnp.zeros((2, 1, 4, 4)), jnp.zeros((2, 1, 4, 5)))
    with pytest.raises(TypeError, match="config"):
        train_operator(model, state, x, x, key=getkey(), config={"epochs": 1})
    y, _ = apply_batch(model, state, jnp.asarray(x), inference=True)
    assert y.shape == (4, 1, 8, 8)


def test_batchnorm_follows_pytorch():
    """Training: batch statistics; running mean/var start at 0/1, momentum 0.1, unbiased variance; inference
    uses the running statistics (PyTorch's BatchNorm2d, computed by hand)."""
    rng = np.random.default_rng(5)
    x = rng.normal(2.0, 3.0, size=(6, 3, 4, 5)).astype(np.float32)
    bn, state = eqx.nn.make_with_state(BatchNorm)(3)
    y, state = apply_batch(bn, state, jnp.asarray(x))
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    expected = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    n = 6 * 4 * 5
    running_mean, running_var = state.get(bn.state_index)
    np.testing.assert_allclose(running_mean, 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(running_var, 0.9 + 0.1 * var * n / (n - 1), rtol=1e-5)
    y_inf, state_inf = apply_batch(bn, state, jnp.asarray(x), inference=True)
    expected_inf = (x - 0.1 * mean[None, :, None, None]) / np.sqrt(
        (0.9 + 0.1 * var * n / (n - 1))[None, :, None, None] + 1e-5
    )
    np.testing.assert_allclose(y_inf, expected_inf, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(state_inf.get(bn.state_index)[1], running_var)  # unchanged
    assert count_params(bn) == 6  # weight and bias; the running statistics are state
    assert count_params(BatchNorm(3)) == 6  # also when built without make_with_state


@pytest.mark.slow
def test_readme_operator_example_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("SCIMLX_DATA", str(tmp_path))
    # faster initialisation here
    namespace = run_readme_block(3, "train_operator(", {"jax.random.key(0)": 'jax.random.key(0, impl="rbg")'})
    assert 0 < namespace["err"] < 2 and len(namespace["res"].history["loss"]) == 2 * 4
