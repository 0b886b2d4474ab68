"""MgNO: the paper's parameter counts, the transposed convolution and the V-cycle against NumPy transcriptions
of the reference's PyTorch layers, odd and even grids, the Navier-Stokes variant and bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.operators import MGNO_CONFIGS, MgConv, MgNO, apply_batch, conv_transpose, prolongation_kernels
from scimlx.train import count_params
from tests.readme import run_readme_block
from tests.tiers import tiered

from .helpers import assert_gradients_finite_and_nonzero, filled, rbg_key

# ------------------------------------------------------------------------------------------------------------
# Parameter counts: analytic, from the reference's layer definitions (MgConv_DC, MgNO_DC, MgNO_NS)
# ------------------------------------------------------------------------------------------------------------


def _analytic(c_in, width, n_layers, cycle, kernels, *, ns=False, bias=False, grid=None):
    def mgconv(cu, cf):
        b = (cu + cf) if bias else 0  # biases of one smoother's A (cf) and S (cu)
        n = 9 * cf * cu + (cu if bias else 0)  # first step: S only
        smoothings = sum(pre for pre, _ in cycle) - 1 + sum(post for _, post in cycle[:-1])
        n += smoothings * (18 * cu * cf + b)
        n += (len(cycle) - 1) * (9 * cu * cu + 9 * cf * cf)  # Pi and R
        n += sum(cu * cu * k[0] * k[1] for k in kernels)  # prolongations
        if ns:
            sizes = [grid[0] // 2**j for j in range(len(cycle) - 1)]
            n += sum(2 * cu * s * s for s in sizes)  # LayerNorm weight and bias
        return n

    total = 0
    for i in range(n_layers):
        cf = c_in if i == 0 else width
        total += mgconv(width, cf) + (0 if ns else cf * width + width)  # + the 1x1 path with bias
    return total + width  # the 1x1 head without bias


@pytest.mark.parametrize(
    "name,expected",
    [("darcy_rough", 572_661), ("darcy_smooth", 678_093), ("navier_stokes", 2_885_194), ("pipe", 783_876)],
)
def test_parameter_counts_of_the_paper_configurations(name, expected):
    cfg = MGNO_CONFIGS[name]
    model = eqx.filter_eval_shape(MgNO.from_config, name, key=jax.random.key(0))  # shapes only
    assert count_params(model) == expected
    shape = cfg.get("shape") or (256, 256)
    kernels = prolongation_kernels(shape, len(cfg["num_iteration"]))
    ns = cfg.get("variant") == "navier_stokes"
    assert expected == _analytic(
        cfg["in_channels"],
        cfg["width"],
        cfg["n_layers"],
        cfg["num_iteration"],
        kernels,
        ns=ns,
        bias=cfg.get("bias", False),
        grid=shape,
    )
    if ns:  # the resolution-locked LayerNorm affines hold 1,740,800 of them
        norms = [n for conv in model.convs for n in conv.norms]
        assert sum(count_params(n) for n in norms) == 1_740_800


def test_prolongation_kernels_follow_the_grid_parity():
    assert prolongation_kernels((211, 211), 6) == ((3, 3), (4, 4), (3, 3), (3, 3), (4, 4))  # 211 -> ... -> 7
    assert prolongation_kernels((256, 256), 6) == ((4, 4),) * 5
    assert prolongation_kernels((85, 64), 3) == ((3, 4), (3, 4))  # 85 -> 43 -> 22, 64 -> 32 -> 16
    assert prolongation_kernels((9,), 1) == ()


# ------------------------------------------------------------------------------------------------------------
# NumPy transcriptions of PyTorch's Conv2d (zero or circular padding, stride) and ConvTranspose2d
# ------------------------------------------------------------------------------------------------------------


def _np_conv(x, w, b=None, stride=1, pad=1, mode="constant"):
    x = np.pad(x, [(0, 0), (pad, pad), (pad, pad)], mode=mode)
    c_out, _, kh, kw = w.shape
    h = (x.shape[1] - kh) // stride + 1
    wd = (x.shape[2] - kw) // stride + 1
    y = np.zeros((c_out, h, wd))
    for i in range(h):
        for j in range(wd):
            patch = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw]
            y[:, i, j] = np.tensordot(w, patch, axes=([1, 2, 3], [0, 1, 2]))
    return y if b is None else y + b[:, None, None]


def _np_conv_transpose(x, w, stride=2, pad=1):
    c_in, c_out, kh, kw = w.shape
    _, h, wd = x.shape
    y = np.zeros((c_out, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for i in range(h):
        for j in range(wd):
            y[:, i * stride : i * stride + kh, j * stride : j * stride + kw] += np.einsum(
                "c,co...->o...", x[:, i, j], w
            )
    return y[:, pad : y.shape[1] - pad, pad : y.shape[2] - pad]


@pytest.mark.parametrize("kernel", [(4, 4), (3, 4), (3, 3)])
def test_transposed_convolution_against_a_hand_computation(kernel):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(2, 3, 5)), rng.normal(size=(2, 3, *kernel))
    got = np.asarray(conv_transpose(jnp.asarray(x), jnp.asarray(w)))
    expected = _np_conv_transpose(x, w)
    assert got.shape == (3, 2 * 3 + kernel[0] - 4, 2 * 5 + kernel[1] - 4)  # 2n for k = 4, 2n - 1 for k = 3
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # 1-D: one hand-written case, x = [1, 2], w = [1, 10, 100, 1000], y = full[1:-1]
    y = conv_transpose(jnp.array([[1.0, 2.0]]), jnp.array([[[1.0, 10.0, 100.0, 1000.0]]]))
    np.testing.assert_allclose(y, [[10.0, 102.0, 1020.0, 200.0]])


def _np_vcycle(conv: MgConv, f, mode):
    """The reference's MgConv_DC forward (zero or circular padding, no LayerNorm), with `conv`'s weights."""
    a = lambda m: None if m is None else np.asarray(m, np.float64)  # noqa: E731

    def c(layer, v, stride=1):
        return _np_conv(v, a(layer.weight), a(layer.bias), stride=stride, mode=mode)

    def smooth(s, u, g):
        return c(s.S, g) if s.A is None else u + c(s.S, g - c(s.A, u))

    states, data, u = [], [], None
    for level, smoothers in enumerate(conv.levels):
        if level:
            f, u = c(conv.restrict_f[level - 1], f, 2), c(conv.restrict_u[level - 1], u, 2)
        for s in smoothers:
            u = smooth(s, u, f)
        states.append(u)
        data.append(f)
    for j in range(len(conv.levels) - 2, -1, -1):
        u = states[j] + _np_conv_transpose(states[j + 1], a(conv.prolong[j].weight))
        for s in conv.post[j]:
            u = smooth(s, u, data[j])
        states[j] = u
    return states[0]


@pytest.mark.parametrize(
    "shape,mode",
    tiered(
        [((12, 8), "zeros"), ((11, 9), "zeros"), ((8, 8), "circular")],
        [((8, 8), "circular")],
        unpack=True,
    ),
)
def test_v_cycle_matches_a_transcription_of_the_reference(shape, mode):
    conv = MgConv(
        2, 3, 2, [[1, 0], [2, 1], [1, 0]], shape=shape, padding_mode=mode, bias=True, key=rbg_key(0)
    )
    f = jax.random.normal(jax.random.key(1), (2, *shape))
    got = eqx.filter_jit(lambda m, v: m(v))(conv, f)
    expected = _np_vcycle(conv, np.asarray(f, np.float64), {"zeros": "constant", "circular": "wrap"}[mode])
    assert got.shape == (3, *shape)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------------------------
# The model: odd and even grids, the Navier-Stokes variant, gradients
# ------------------------------------------------------------------------------------------------------------


@eqx.filter_jit
def _apply(model, x):
    return apply_batch(model, eqx.nn.State(model), x)[0]


def test_odd_and_even_grids():
    cycle = [[1, 0], [2, 0]]  # two levels: 16 x 12 -> 8 x 6 (kernels 4), 13 x 11 -> 7 x 6 (kernels 3)
    even = filled(lambda: MgNO(2, 3, width=4, n_layers=1, num_iteration=cycle, key=rbg_key(2)), 2)
    odd = filled(
        lambda: MgNO(2, 3, width=4, n_layers=1, num_iteration=cycle, shape=(13, 11), key=rbg_key(2)), 3
    )
    assert odd.shape == (13, 11) and even.shape is None
    for model, shape in ((even, (16, 12)), (odd, (13, 11))):
        y = _apply(model, jax.random.normal(jax.random.key(3), (2, 2, *shape)))
        assert y.shape == (2, 3, *shape) and bool(jnp.all(jnp.isfinite(y)))
    with pytest.raises(ValueError, match=r"shape=\(13, 11\)"):  # odd sizes need the grid at construction
        _apply(even, jnp.zeros((1, 2, 13, 11)))
    with pytest.raises(ValueError, match="built for the grid"):
        _apply(odd, jnp.zeros((1, 2, 16, 12)))


def test_navier_stokes_variant_predicts_the_increment():
    model = MgNO(
        1,
        1,
        width=4,
        n_layers=1,
        num_iteration=[[1, 0], [2, 0]],
        padding_mode="circular",
        bias=True,
        variant="navier_stokes",
        shape=(8, 8),
        key=rbg_key(4),
    )
    assert model.linears is None and len(model.convs[0].norms) == 1
    x = jax.random.normal(jax.random.key(5), (2, 1, 8, 8))
    zero_head = eqx.tree_at(lambda m: m.head.weight, model, jnp.zeros_like(model.head.weight))
    np.testing.assert_allclose(
        _apply(zero_head, x), x
    )  # the output is the input plus the network's increment
    assert float(jnp.max(jnp.abs(_apply(model, x) - x))) > 0


@pytest.mark.slow
def test_gradients_finite_and_nonzero_for_every_leaf():
    model = MgNO(
        1,
        1,
        width=3,
        n_layers=2,
        num_iteration=[[1, 0], [1, 1], [2, 0]],
        bias=True,
        restrict_residual=True,
        key=rbg_key(6),
    )
    x = jax.random.normal(jax.random.key(7), (2, 1, 16, 16))
    target = jax.random.normal(jax.random.key(8), (2, 1, 16, 16))
    assert_gradients_finite_and_nonzero(model, eqx.nn.State(model), x, target)


# ------------------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------------------


def test_bad_input():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="weight"):
        conv_transpose(jnp.ones((2, 3, 4)), jnp.ones((3, 2, 4, 4)))  # C_in mismatch
    with pytest.raises(ValueError, match="weight"):
        conv_transpose(jnp.ones((2, 3, 4)), jnp.ones((2, 2, 4)))  # one kernel size for two axes
    with pytest.raises(ValueError, match="padding"):
        conv_transpose(jnp.ones((1, 3)), jnp.ones((1, 1, 2)), padding=2)
    with pytest.raises(ValueError, match="stride"):
        conv_transpose(jnp.ones((1, 3)), jnp.ones((1, 1, 4)), stride=0)
    with pytest.raises(ValueError, match="levels"):
        prolongation_kernels((8, 8), 0)
    with pytest.raises(TypeError, match="shape"):
        prolongation_kernels(8, 2)
    with pytest.raises(ValueError, match="name"):
        MgNO.from_config("darcy", key=key)
    with pytest.raises(ValueError, match="too small for 6 levels"):
        eqx.filter_eval_shape(MgNO, 1, shape=(20, 20), key=key)
    with pytest.raises(TypeError, match="num_iteration"):
        MgNO(1, num_iteration=[1, 0], key=key)
    with pytest.raises(ValueError, match=r"num_iteration\[1\]\[0\]"):
        MgNO(1, num_iteration=[[1, 0], [0, 0]], key=key)
    with pytest.raises(ValueError, match="padding_mode"):
        MgNO(1, num_iteration=[[1, 0]], padding_mode="replicate", key=key)
    with pytest.raises(ValueError, match="needs the grid `shape`"):
        MgNO(1, num_iteration=[[1, 0]], variant="navier_stokes", key=key)
    with pytest.raises(ValueError, match="in_channels"):
        MgNO(2, 1, num_iteration=[[1, 0]], variant="navier_stokes", shape=(8, 8), key=key)
    model = MgNO(2, width=2, n_layers=1, num_iteration=[[1, 0], [1, 0]], key=rbg_key(1))
    with pytest.raises(ValueError, match="in_channels=2"):
        model(jnp.zeros((3, 8, 8)), eqx.nn.State(model))
    with pytest.raises(ValueError, match="spatial axes"):
        model(jnp.zeros((2, 8)), eqx.nn.State(model))
    with pytest.raises(ValueError, match="too small for 2 levels"):
        model(jnp.zeros((2, 2, 2)), eqx.nn.State(model))


def test_readme_mgno_example_runs():
    fast_key = {"key=jax.random.key(0))  # an odd": "key=rbg_key(0))  # an odd"}
    namespace = run_readme_block(
        4,
        "MgNO.from_config",
        fast_key | {"import equinox": "from tests.operators.helpers import rbg_key\nimport equinox"},
    )
    assert count_params(namespace["paper"]) == 572_661
    assert namespace["model"].shape == (33, 33)
    assert [p.weight.shape[2:] for p in namespace["model"].convs[0].prolong] == [(3, 3), (3, 3)]
    assert namespace["config"].schedule == "one_cycle" and namespace["config"].epochs == 2
