"""CAPE: the module against a NumPy transcription of the reference block, parameter counts, the curriculum's
values, the rollout between teacher forcing and autoregression, the warm-up optimiser, training, bad input."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.special import erf

from scimlx.operators import (
    CAPE,
    FNO,
    CAPEModule,
    OperatorConfig,
    UNet,
    apply_batch,
    curriculum_rollout,
    curriculum_t_ar,
    rollout,
    train_operator,
)
from scimlx.operators._training import cape_labels
from scimlx.train import RunOptions, count_params

from .helpers import filled


def _gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _conv1d(x, w, b=None, *, groups=1, circular=False):
    """PyTorch's Conv1d with "same" padding (odd kernel): cross-correlation, zeros or wrap-around."""
    c_out, c_per_group, k = w.shape
    pad = (k - 1) // 2
    xp = np.pad(x, [(0, 0), (pad, pad)], mode="wrap" if circular else "constant")
    n = x.shape[1]
    out = np.zeros((c_out, n))
    per_out = c_out // groups
    for o in range(c_out):
        g = o // per_out
        for c in range(c_per_group):
            for t in range(k):
                out[o] += w[o, c, t] * xp[g * c_per_group + c, t : t + n]
    return out if b is None else out + b[:, None]


def _module_reference(mod, u, p):
    """The reference block (`PrmEmb_Block_1d`) written out in NumPy with the module's weights."""
    a = lambda t: np.asarray(t, np.float64)  # noqa: E731
    circ = mod.conv_in.padding_mode == "CIRCULAR"
    if mod.param_transform == "sigmoid_log":
        p = 1.0 / (1.0 + np.exp(-np.log(p)))
    att = [
        a(m.second.weight) @ _gelu(a(m.first.weight) @ p + a(m.first.bias)) + a(m.second.bias)
        for m in mod.mlps
    ]
    h = _gelu(_conv1d(u, a(mod.conv_in.weight), circular=circ))
    n = h.shape[1]
    pooled = h.reshape(h.shape[0], n // 4, 4).mean(-1)
    w = a(mod.spectral.weights[0])
    w = w[..., 0] + 1j * w[..., 1]
    m = w.shape[-1]
    ft = np.fft.rfft(pooled)
    out_ft = np.zeros((w.shape[1], ft.shape[1]), complex)
    out_ft[:, :m] = np.einsum("ik,iok->ok", ft[:, :m], w)
    y0 = np.repeat(np.fft.irfft(out_ft, n=n // 4), 4, axis=1) * att[0][:, None]
    y1 = _conv1d(h, a(mod.attn_pointwise.weight), a(mod.attn_pointwise.bias).ravel()) * att[1][:, None]
    y2 = _conv1d(h, a(mod.depthwise.weight), groups=h.shape[0], circular=circ) * att[2][:, None]
    y = y0 + y1 + y2 + _conv1d(h, a(mod.pointwise.weight), a(mod.pointwise.bias).ravel())
    y = _conv1d(_gelu(y), a(mod.head.weight), a(mod.head.bias).ravel())
    ln = (y - y.mean(-1, keepdims=True)) / np.sqrt(y.var(-1, keepdims=True) + 1e-5)
    ln = ln * a(mod.norm.weight) + a(mod.norm.bias)
    rep = np.tile(u, (mod.n_cape, 1))
    return rep + ln if mod.combine == "add" else rep * (1.0 + ln)


_apply = eqx.filter_jit(apply_batch)


@pytest.mark.parametrize(
    "padding,combine,transform",
    [("zeros", "add", "identity"), ("circular", "multiply", "sigmoid_log")],
)
def test_module_matches_a_numpy_transcription_of_the_reference(padding, combine, transform, x64):
    def build():
        return CAPEModule(
            2, 3, (16,), width=8, kernel_size=3, n_cape=2, modes=3, padding=padding, combine=combine,
            param_transform=transform, key=jax.random.key(0),
        )  # fmt: skip

    mod = filled(build, 1, np.float64)
    u = np.random.default_rng(2).normal(size=(2, 16))
    p = np.array([0.3, 1.5, 4.0])
    got = np.asarray(eqx.filter_jit(mod.__call__)(jnp.asarray(u), jnp.asarray(p)))
    assert got.shape == (4, 16)
    np.testing.assert_allclose(got, _module_reference(mod, u, p), rtol=1e-10, atol=1e-12)


def test_parameter_counts_match_the_reference_layout():
    """The reference's 1-D settings (width 64, kernel 5, 16 modes on the 128-point grid pooled to 32): the
    module has 77,089 parameters, FNO width 20 on two channels 43,106 (+3 for the mixing 1x1), and the wider
    baseline FNO (width 36) 134,717, as counted from the layer shapes."""
    key = jax.random.key(0)
    mod = eqx.filter_eval_shape(CAPEModule, 1, 1, (128,), key=key)
    d, half, k, modes, n = 64, 32, 5, 16, 128
    analytic = (
        half * k  # input convolution, no bias
        + 2 * half * d * modes  # spectral branch, complex weights
        + d * k  # depthwise, groups = d/2, no bias
        + 2 * (half * d + d)  # the two 1x1 convolutions
        + (d + 1)  # head
        + 3 * ((half + half) + (half * d + d))  # three parameter MLPs (one parameter)
        + 2 * n  # layer norm over the grid
    )
    assert count_params(mod) == analytic == 77_089
    base = eqx.filter_eval_shape(FNO, 2, 2, ndim=1, modes=12, width=20, padding=2, key=key)
    def build(k):
        return CAPE(base_of(k), channels=1, n_params=1, shape=(128,), key=k)

    def base_of(k):
        return FNO(2, 2, ndim=1, modes=12, width=20, padding=2, key=k)

    model = eqx.filter_eval_shape(build, key)
    assert count_params(base) == 43_106 and count_params(model) == 77_089 + 43_106 + 3
    wide = eqx.filter_eval_shape(FNO, 1, 1, ndim=1, modes=12, width=36, padding=2, key=key)
    assert count_params(wide) == 134_717


def test_curriculum_values():
    """The reference's settings (100 epochs, 3 warm-up, 41 frames): teacher forcing at first, fully
    autoregressive at the end, the switch moving along a tanh ramp centred mid-training."""
    epochs = (0, 20, 30, 40, 50, 60, 70, 80, 90, 99)
    t = [int(curriculum_t_ar(e, epochs=100, warmup=3, t_train=41)) for e in epochs]
    assert t == [1, 1, 4, 9, 18, 28, 35, 38, 40, 40]
    e = 57
    expected = math.floor(41 * 0.5 * (1 + math.tanh(((e - 3) / 97 - 0.5) / 0.2)))
    assert int(curriculum_t_ar(jnp.asarray(e), epochs=100, warmup=3, t_train=41)) == expected
    with pytest.raises(ValueError, match="warmup"):
        curriculum_t_ar(0, epochs=3, warmup=3, t_train=41)


class _Scale(eqx.Module):
    """Predicts `a * last frame + b`: a stateless one-frame operator with a known rollout."""

    a: jax.Array
    b: jax.Array
    in_channels: int = eqx.field(static=True, default=1)
    out_channels: int = eqx.field(static=True, default=1)

    def __call__(self, x, state=None, *, key=None):
        return self.a * x[-1:] + self.b, state


def test_curriculum_rollout_between_teacher_forcing_and_autoregression():
    model = _Scale(jnp.asarray(0.9), jnp.asarray(0.1))
    x = jax.random.normal(jax.random.key(0), (3, 1, 8))
    y = jax.random.normal(jax.random.key(1), (3, 5, 8))
    teacher, _, _ = curriculum_rollout(model, None, x, y, 1)  # t_ar = t_in: every input true
    inputs = jnp.concatenate([x, y[:, :-1]], axis=1)
    np.testing.assert_allclose(teacher, 0.9 * inputs + 0.1, rtol=1e-6)
    free, _, _ = curriculum_rollout(model, None, x, y, 6)  # t_ar = t_in + t_out: the plain rollout
    np.testing.assert_allclose(free, rollout(model, None, x, 5)[0], rtol=1e-6)
    # t_ar = 3: the frames t = 1, 2 are fed back, t >= 3 take the truth
    mixed, _, _ = curriculum_rollout(model, None, x, y, 3)
    np.testing.assert_allclose(mixed[:, :3], free[:, :3], rtol=1e-6)
    np.testing.assert_allclose(mixed[:, 3:], 0.9 * y[:, 2:4] + 0.1, rtol=1e-6)
    noisy, _, _ = curriculum_rollout(model, None, x, y, 1, input_noise=1e-3, key=jax.random.key(2))
    deviation = (noisy - teacher) / 0.9  # the noise added to the inputs
    assert 0.5e-3 < float(jnp.std(deviation)) < 1.5e-3
    with pytest.raises(ValueError, match="`key`"):
        curriculum_rollout(model, None, x, y, 1, input_noise=1e-3)
    with pytest.raises(ValueError, match="agree in batch and grid"):
        curriculum_rollout(model, None, x, y[:, :, :4], 1)


@pytest.fixture(scope="module")
def small_cape():
    def build():
        base = FNO(2, 2, ndim=1, modes=4, width=8, key=jax.random.key(0))
        return CAPE(base, channels=1, n_params=1, shape=(16,), width=8, modes=2, padding="circular",
                    key=jax.random.key(1))  # fmt: skip

    return filled(build, 0)


def test_parameters_at_or_below_zero(small_cape):
    """The parameters enter the MLPs as they are: zero and negative values (the reference's 2-D transform
    `sigmoid(log p)` is undefined there) give finite predictions that depend on them."""
    x = jax.random.normal(jax.random.key(3), (3, 1, 16))
    y, _ = _apply(small_cape, None, x, pde_params=jnp.array([[-1.0], [0.0], [0.5]]))
    assert bool(jnp.all(jnp.isfinite(y)))
    y_same, _ = _apply(small_cape, None, x, pde_params=jnp.array([[0.5], [0.5], [0.5]]))
    assert float(jnp.abs(y[0] - y_same[0]).max()) > 1e-6


def test_warmup_moves_only_the_module_then_everything(small_cape):
    """Two warm-up steps: the module's Adam moves the CAPE module and the base is held; then the main
    optimiser, fresh, moves every array."""
    config = OperatorConfig.cape(epochs=5, warmup_epochs=2)
    opt = config.warmup_optimizer(optax.sgd(1.0), steps_per_epoch=1)
    params = eqx.filter(small_cape, eqx.is_inexact_array)
    labels = cape_labels(params)
    assert set(jax.tree_util.tree_leaves(labels.cape)) == {"cape"}
    assert set(jax.tree_util.tree_leaves((labels.base, labels.mix))) == {"base"}
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    state = eqx.filter_jit(opt.init)(params)
    update = eqx.filter_jit(opt.update)
    moved = []
    for _ in range(3):
        updates, state = update(grads, state, params)
        leaves = {part: jax.tree_util.tree_leaves(getattr(updates, part)) for part in ("cape", "base", "mix")}
        moved.append({part: any(float(jnp.abs(u).max()) > 0 for u in ls) for part, ls in leaves.items()})
    assert moved[:2] == [{"cape": True, "base": False, "mix": False}] * 2
    assert moved[2] == {"cape": True, "base": True, "mix": True}
    assert float(jnp.max(jnp.abs(jax.tree_util.tree_leaves(updates.base)[0] + 1.0))) < 1e-6  # sgd(1): -grad


@pytest.mark.slow
def test_cape_training_fits_parameter_dependent_dynamics():
    """Over-fitting: u' = u shifted by beta cells, for two betas. CAPE's recipe (warm-up, curriculum, noise)
    brings the full-rollout error far below the untrained model's, in one compiled step for every epoch."""
    rng = np.random.default_rng(0)
    n, nx, t = 8, 16, 4
    beta = np.array([1, 2] * (n // 2), np.float32)
    u0 = rng.normal(size=(n, nx)).astype(np.float32)
    frames = np.stack([np.stack([np.roll(u0[i], int(beta[i]) * s) for s in range(t)]) for i in range(n)])
    traces = []

    class Counting(FNO):
        def __call__(self, x, state=None, *, key=None):
            traces.append(1)
            return super().__call__(x, state, key=key)

    def build():
        base = Counting(2, 2, ndim=1, modes=8, width=12, key=jax.random.key(0))
        return CAPE(base, channels=1, n_params=1, shape=(nx,), width=8, modes=2, padding="circular",
                    key=jax.random.key(1))  # fmt: skip

    model = filled(build, 0)  # initial weights from NumPy: nothing to compile
    x, y = frames[:, :1], frames[:, 1:]
    config = OperatorConfig.cape(epochs=60, batch_size=4, learning_rate=1e-2, warmup_epochs=2, step_size=20)
    res = train_operator(
        model, None, x, y, key=jax.random.key(2), task="autoregressive", config=config,
        run=RunOptions(progress=False), x_test=x, y_test=y, pde_params_train=beta, pde_params_test=beta,
    )  # fmt: skip
    from scimlx.operators import evaluate_operator

    before = evaluate_operator(model, None, x, y, task="autoregressive", pde_params=beta)
    after = res.history["eval"][-1][1]["test_rel_l2"]
    assert after < before / 5, (before, after)
    # the warm-up's 2 epochs of 2 steps minimise the module's loss alone, then the rollout's joins it
    loss, aux, main = (np.asarray(res.history[k] if k == "loss" else res.history["aux"][k])
                       for k in ("loss", "cape_l2", "rollout_l2"))  # fmt: skip
    np.testing.assert_allclose(loss[:4], aux[:4], rtol=1e-6)
    np.testing.assert_allclose(loss[4:], main[4:] + 5.7e-5 * aux[4:], rtol=1e-5)
    # traced once for training (2 steps per epoch, one batch shape) and once for the evaluation, whatever the
    # epoch: the curriculum and the warm-up switch are traced values
    assert len(traces) <= 4


def test_bad_input(small_cape):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="in_channels=2"):
        CAPE(eqx.filter_eval_shape(FNO, 1, 2, ndim=1, modes=2, width=4, key=key), channels=1, n_params=1,
             shape=(16,), key=key)  # fmt: skip
    with pytest.raises(ValueError, match="multiple of 4"):
        CAPEModule(1, 1, (18,), key=key)
    with pytest.raises(ValueError, match="modes"):
        CAPEModule(1, 1, (16,), modes=4, key=key)  # the pooled grid of 4 points keeps 3 modes
    with pytest.raises(ValueError, match="width"):
        CAPEModule(1, 1, (16,), width=7, key=key)
    with pytest.raises(ValueError, match="combine"):
        CAPEModule(1, 1, (16,), combine="concat", key=key)
    x = jnp.ones((2, 1, 16))
    with pytest.raises(ValueError, match="`pde_params` is required"):
        apply_batch(small_cape, None, x)
    with pytest.raises(ValueError, match=r"`pde_params` must have shape \(B=2, P\)"):
        apply_batch(small_cape, None, x, pde_params=jnp.ones((3, 1)))
    with pytest.raises(ValueError, match="`pde_params` must be the 1 PDE parameters"):
        apply_batch(small_cape, None, x, pde_params=jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="grid"):
        apply_batch(small_cape, None, jnp.ones((2, 1, 20)), pde_params=jnp.ones((2, 1)))
    fno = filled(lambda: FNO(1, 1, ndim=1, modes=2, width=4, key=key), 3)
    with pytest.raises(ValueError, match="not conditioned"):
        apply_batch(fno, None, x, pde_params=jnp.ones((2, 1)))
    u = np.ones((4, 3, 16), np.float32)
    run = RunOptions(epochs=2, batch_size=2, progress=False)
    with pytest.raises(ValueError, match="pde_params_train"):
        train_operator(small_cape, None, u[:, :1], u[:, 1:], key=key, task="autoregressive", run=run)
    with pytest.raises(ValueError, match="warmup_epochs and aux_weight"):
        train_operator(fno, None, u[:, :1], u[:, 1:], key=key, task="autoregressive", run=run,
                       config=OperatorConfig.cape(epochs=5))  # fmt: skip
    with pytest.raises(ValueError, match="t_in=1"):
        base = eqx.filter_eval_shape(FNO, 4, 4, ndim=1, modes=2, width=4, key=key)
        big = eqx.filter_eval_shape(CAPE, base, channels=2, n_params=1, shape=(16,), modes=2, key=key)
        train_operator(big, None, u[:, :2], u[:, 2:], key=key, task="autoregressive", run=run,
                       pde_params_train=np.ones(4), config=OperatorConfig.cape(epochs=5))  # fmt: skip
    with pytest.raises(ValueError, match="apply to task='autoregressive' only"):
        train_operator(fno, None, u[:, :1], u[:, 1:2], key=key, run=run,
                       config=OperatorConfig(input_noise=1e-3))  # fmt: skip


@pytest.mark.slow
def test_cape_wraps_a_two_dimensional_unet():
    """A stateful base: the U-Net's BatchNorm state passes through; the 2-D module multiplies (the reference's
    2-D combination) and its guess has the data's shape."""
    key = jax.random.key(0)
    unet, state = eqx.nn.make_with_state(UNet)(2, 2, ndim=2, width=4, depth=2, key=key)
    model = CAPE(unet, channels=1, n_params=2, shape=(16, 12), width=8, modes=2, key=jax.random.key(1))
    assert model.cape.combine == "multiply"
    x = jax.random.normal(key, (3, 1, 16, 12))
    y, new_state = apply_batch(model, state, x, pde_params=jnp.ones((3, 2)))
    assert y.shape == (3, 1, 16, 12) and bool(jnp.all(jnp.isfinite(y)))
    assert jax.tree_util.tree_structure(new_state) == jax.tree_util.tree_structure(state)
    assert model.guess(x[0], pde_params=jnp.ones(2)).shape == (1, 16, 12)


@pytest.mark.slow
def test_readme_cape_example_runs():
    from tests.readme import run_readme_block

    namespace = run_readme_block(5, "CAPE(")
    assert count_params(namespace["model"]) == 120_198
    assert namespace["y"].shape == (4, 1, 128) and bool(jnp.all(jnp.isfinite(namespace["y"])))
    assert namespace["config"].warmup_epochs == 3



@pytest.mark.slow
def test_cape_run_stopped_mid_way_resumes_bit_identically(tmp_path, monkeypatch):
    """Ctrl-C at step 5 of 12 (in the warm-up's last epoch), then a resumed run: the same weights and losses
    as the run never stopped (the warm-up switch, the curriculum and the input noise follow the step
    counter)."""
    import os
    import signal

    from scimlx._interrupt import Interrupted
    from scimlx.operators import _training

    rng = np.random.default_rng(1)
    n, nx = 8, 16
    beta = np.array([1, 2] * (n // 2), np.float32)
    u0 = rng.normal(size=(n, nx)).astype(np.float32)
    frames = np.stack([np.stack([np.roll(u0[i], int(beta[i]) * s) for s in range(4)]) for i in range(n)])
    x, y = frames[:, :1], frames[:, 1:]

    def build():
        base = FNO(2, 2, ndim=1, modes=4, width=8, key=jax.random.key(0))
        return CAPE(base, channels=1, n_params=1, shape=(nx,), width=8, modes=2, padding="circular",
                    key=jax.random.key(1))  # fmt: skip

    model = filled(build, 3)
    config = OperatorConfig.cape(epochs=6, batch_size=4, warmup_epochs=3, step_size=2)

    def train(**options):
        run = RunOptions(progress=False, eval_every=5, **options)
        return train_operator(
            model, None, x, y, key=jax.random.key(2), task="autoregressive", config=config, run=run,
            x_test=x, y_test=y, pde_params_train=beta, pde_params_test=beta,
        )  # fmt: skip

    evaluate = _training.evaluate_operator
    pressed = []

    def press_once(*args, **kwargs):  # the evaluation at step 5 presses Ctrl-C
        if not pressed:
            pressed.append(1)
            before = signal.getsignal(signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            while signal.getsignal(signal.SIGINT) is before:
                pass
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(_training, "evaluate_operator", press_once)
    with pytest.raises(Interrupted) as info:
        train(checkpoint_dir=tmp_path)
    assert info.value.step == 5
    monkeypatch.setattr(_training, "evaluate_operator", evaluate)
    resumed = train(checkpoint_dir=tmp_path, resume=True)
    straight = train()
    leaves = [jax.tree.leaves(eqx.filter(r.model, eqx.is_array)) for r in (resumed, straight)]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(*leaves))
    assert np.asarray(resumed.history["loss"]).tolist() == np.asarray(straight.history["loss"]).tolist()
    assert len(straight.history["loss"]) == 12
