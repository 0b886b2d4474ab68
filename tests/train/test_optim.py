import math

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from scimlx.train import adam_l2, exponential_decay, lbfgs, one_cycle, one_cycle_momentum, step_decay


def test_adam_l2_is_coupled_l2():
    lr, wd, b1, b2, eps = 0.1, 0.5, 0.9, 0.999, 1e-8
    params = {"w": jnp.array([1.0, -2.0, 0.5])}
    grads = [jnp.array([0.3, 0.1, -0.2]), jnp.array([-0.1, 0.4, 0.2])]
    opt = adam_l2(lr, wd)
    state = opt.init(params)

    # Hand-computed coupled-L2 Adam (torch's Adam(weight_decay=wd)).
    w = np.asarray(params["w"], np.float64)
    m = v = np.zeros(3)
    p = params
    for t, g in enumerate(grads, start=1):
        gt = np.asarray(g, np.float64) + wd * w
        m = b1 * m + (1 - b1) * gt
        v = b2 * v + (1 - b2) * gt**2
        mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr * mhat / (np.sqrt(vhat) + eps)
        updates, state = opt.update({"w": g}, state, p)
        p = optax.apply_updates(p, updates)
        np.testing.assert_allclose(p["w"], w, rtol=1e-5, atol=1e-6)

    # First step in closed form: -lr * sign(g + wd * w) (up to eps).
    g0 = grads[0] + wd * params["w"]
    updates, _ = opt.update({"w": grads[0]}, opt.init(params), params)
    np.testing.assert_allclose(updates["w"], -lr * jnp.sign(g0), rtol=1e-5)

    # AdamW decays decoupled from the moments: a different first step.
    adamw = optax.adamw(lr, weight_decay=wd)
    updates_w, _ = adamw.update({"w": grads[0]}, adamw.init(params), params)
    assert not np.allclose(updates_w["w"], updates["w"])
    np.testing.assert_allclose(
        updates_w["w"], -lr * (jnp.sign(grads[0]) + wd * params["w"]), rtol=1e-5, atol=1e-6
    )


def test_adam_l2_without_decay_is_adam_and_takes_schedules():
    params = {"w": jnp.array([1.0, -2.0])}
    g = {"w": jnp.array([0.3, -0.7])}
    u1, _ = adam_l2(1e-2).update(g, adam_l2(1e-2).init(params), params)
    u2, _ = optax.adam(1e-2).update(g, optax.adam(1e-2).init(params), params)
    np.testing.assert_allclose(u1["w"], u2["w"], rtol=1e-6)
    sched = step_decay(1e-2, 1, 0.5)
    opt = adam_l2(sched, 1e-4)
    state = opt.init(params)
    for _ in range(3):
        _, state = opt.update(g, state, params)


def test_step_decay_is_steplr():
    sched = step_decay(1.0, step_size=2, gamma=0.5, steps_per_epoch=3)
    # Epoch = step // 3; the rate halves every 2 epochs, i.e. every 6 steps.
    expected = {0: 1.0, 5: 1.0, 6: 0.5, 11: 0.5, 12: 0.25, 30: 0.5**5}
    for step, value in expected.items():
        assert float(sched(step)) == pytest.approx(value, rel=1e-6)
    plain = step_decay(0.1, step_size=30, gamma=0.1)
    assert float(plain(29)) == pytest.approx(0.1)
    assert float(plain(30)) == pytest.approx(0.01)
    assert float(plain(65)) == pytest.approx(0.001)


def _torch_one_cycle(step, total, max_lr, pct_start=0.3, div=25.0, final_div=1e4):
    # The formula of torch.optim.lr_scheduler.OneCycleLR (cos, two phases).
    initial = max_lr / div
    minimum = initial / final_div
    phases = [
        (float(pct_start * total) - 1, initial, max_lr),
        (float(total) - 1, max_lr, minimum),
    ]
    start = 0.0
    for i, (end, lo, hi) in enumerate(phases):
        if step <= end or i == len(phases) - 1:
            pct = (step - start) / (end - start)
            return hi + (lo - hi) / 2.0 * (math.cos(math.pi * pct) + 1)
        start = end


def test_one_cycle_is_torch_onecycle():
    total, max_lr = 100, 0.1
    sched = one_cycle(total, max_lr)
    # Hand-computed points: start max_lr/25, peak at step 0.3*100-1 = 29, half-way
    # through the annealing phase at 29 + 70/2 = 64, final (max_lr/25)/1e4 at step 99.
    hand = {0: 0.004, 29: 0.1, 64: (0.1 + 4e-7) / 2, 99: 4e-7}
    for step, value in hand.items():
        assert float(sched(step)) == pytest.approx(value, rel=1e-5)
    for step in [1, 7, 15, 28, 30, 50, 80, 98]:
        assert float(sched(step)) == pytest.approx(_torch_one_cycle(step, total, max_lr), rel=1e-5)
    # A custom cycle.
    sched = one_cycle(50, 2.0, pct_start=0.25, div_factor=10.0, final_div_factor=100.0)
    for step in [0, 3, 11, 12, 13, 30, 49]:
        expected = _torch_one_cycle(step, 50, 2.0, 0.25, 10.0, 100.0)
        assert float(sched(step)) == pytest.approx(expected, rel=1e-5)
    assert float(sched(1000)) == pytest.approx(2.0 / 10.0 / 100.0, rel=1e-5)


def _torch_one_cycle_momentum(step, total, pct_start=0.3, base=0.85, top=0.95):
    # torch's OneCycleLR(cycle_momentum=True): the momentum runs max -> base, then base -> max
    end1, end2 = float(pct_start * total) - 1, float(total) - 1
    if step <= end1:
        start, end, pct = top, base, step / end1
    else:
        start, end, pct = base, top, (step - end1) / (end2 - end1)
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def test_one_cycle_momentum_is_torch_cycle_momentum():
    sched = one_cycle_momentum(100)
    hand = {0: 0.95, 29: 0.85, 64: 0.9, 99: 0.95}  # opposite to the rate: lowest where the rate peaks
    for step, value in hand.items():
        assert float(sched(step)) == pytest.approx(value, rel=1e-6)
    sched = one_cycle_momentum(50, pct_start=0.2, base_momentum=0.8, max_momentum=0.9, steps_per_epoch=3)
    for epoch in [0, 1, 5, 9, 10, 20, 49]:
        expected = _torch_one_cycle_momentum(epoch, 50, 0.2, 0.8, 0.9)
        for j in range(3):  # stepped once per epoch
            assert float(sched(3 * epoch + j)) == pytest.approx(expected, rel=1e-6)


def test_adam_l2_with_a_scheduled_b1_is_torch_adam_under_onecycle():
    lr, wd, b2, eps = 0.05, 0.1, 0.999, 1e-8
    b1 = one_cycle_momentum(6, pct_start=0.5)
    params = {"w": jnp.array([1.0, -2.0, 0.5])}
    opt = adam_l2(lr, wd, b1=b1)
    state = opt.init(params)
    w, m, v, p = np.asarray(params["w"], np.float64), np.zeros(3), np.zeros(3), params
    rng = np.random.default_rng(0)
    for t in range(1, 6):
        g = rng.normal(size=3)
        beta1 = float(b1(t - 1))  # the scheduler's value when step t is taken
        gt = g + wd * w
        m = beta1 * m + (1 - beta1) * gt
        v = b2 * v + (1 - b2) * gt**2
        w = w - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        updates, state = opt.update({"w": jnp.asarray(g, jnp.float32)}, state, p)
        p = optax.apply_updates(p, updates)
        np.testing.assert_allclose(p["w"], w, rtol=1e-5, atol=1e-6)
    assert len({round(float(b1(t)), 6) for t in range(6)}) > 2  # b1 really moved


def test_one_cycle_per_epoch_staircase():
    per_step = one_cycle(20, 1e-3)
    per_epoch = one_cycle(20, 1e-3, steps_per_epoch=4)
    for epoch in range(20):
        for j in range(4):
            assert float(per_epoch(4 * epoch + j)) == float(per_step(epoch))


def test_exponential_decay():
    smooth = exponential_decay(1.0, 10, 0.5)
    stairs = exponential_decay(1.0, 10, 0.5, staircase=True)
    assert float(smooth(5)) == pytest.approx(0.5**0.5)
    assert float(smooth(20)) == pytest.approx(0.25)
    assert float(stairs(5)) == pytest.approx(1.0)
    assert float(stairs(19)) == pytest.approx(0.5)


def test_lbfgs_is_extra_args():
    opt = lbfgs(memory_size=5)
    assert isinstance(opt, optax.GradientTransformationExtraArgs)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: adam_l2(-1e-3), "learning_rate"),
        (lambda: adam_l2(1e-3, -0.1), "weight_decay"),
        (lambda: adam_l2(1e-3, b1=1.0), "b1"),
        (lambda: adam_l2(1e-3, b2=-0.1), "b2"),
        (lambda: adam_l2(1e-3, eps=-1.0), "eps"),
        (lambda: adam_l2("fast"), "learning_rate"),
        (lambda: step_decay(1e-3, 0, 0.5), "step_size"),
        (lambda: step_decay(1e-3, 10, 0.0), "gamma"),
        (lambda: step_decay(1e-3, 10, 1.5), "gamma"),
        (lambda: step_decay(1e-3, 10, 0.5, steps_per_epoch=0), "steps_per_epoch"),
        (lambda: step_decay(-1.0, 10, 0.5), "init_value"),
        (lambda: one_cycle(0, 1e-3), "total_steps"),
        (lambda: one_cycle(10, -1e-3), "max_lr"),
        (lambda: one_cycle(10, 1e-3, pct_start=0.0), "pct_start"),
        (lambda: one_cycle(10, 1e-3, pct_start=1.0), "pct_start"),
        (lambda: one_cycle(10, 1e-3, div_factor=0.0), "div_factor"),
        (lambda: one_cycle(10, 1e-3, final_div_factor=-1.0), "final_div_factor"),
        (lambda: one_cycle(10, 1e-3, steps_per_epoch=2.5), "steps_per_epoch"),
        (lambda: one_cycle_momentum(10, base_momentum=0.96), "base_momentum"),
        (lambda: one_cycle_momentum(10, max_momentum=1.0), "max_momentum"),
        (lambda: one_cycle_momentum(10, pct_start=1.5), "pct_start"),
        (lambda: exponential_decay(1.0, 0, 0.5), "transition_steps"),
        (lambda: exponential_decay(1.0, 10, 0.0), "decay_rate"),
        (lambda: exponential_decay(float("nan"), 10, 0.5), "init_value"),
        (lambda: lbfgs(-1.0), "learning_rate"),
        (lambda: lbfgs(memory_size=0), "memory_size"),
        (lambda: lbfgs(max_linesearch_steps=0), "max_linesearch_steps"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make()
