"""LSM, FNO and the U-Net compute their PyTorch reference models' functions, to float64 round-off.

`data/torch_references.npz` was written once by `benchmarks/torch_reference.py` from the reference code
(LSM's and FNO's `models/*_2D.py` of thuml/Latent-Spectral-Models, PDEBench's `UNet2d`) at a small
configuration of each: the recipe of its weights (a seed and a range per tensor), its output on a fixed
batch in training mode, the batch-norm running statistics after that pass, and the gradient of
`sum(y * probe)` with respect to the input and (projected on a fixed direction, and its squared norm) every
parameter. Here the same weights go into our models, by the name maps below, and every number must agree
to 1e-10: whatever is done to make the models fast cannot change what they compute.
"""

import pathlib
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.operators import FNO, LSM, UNet, apply_batch

from .helpers import filled

DATA = pathlib.Path(__file__).parent / "data" / "torch_references.npz"
TOL = 1e-10

# the small configurations of benchmarks/torch_reference.py
BUILD = {
    "lsm": lambda: eqx.nn.make_with_state(LSM)(1, 1, width=8, num_basis=12, num_token=4, patch=2, padding=4,
                                               key=jax.random.key(0)),
    "fno": lambda: eqx.nn.make_with_state(FNO)(1, 1, modes=4, width=8, padding=3, key=jax.random.key(0)),
    "unet": lambda: eqx.nn.make_with_state(UNet)(1, 1, width=2, depth=4, key=jax.random.key(0)),
}  # fmt: skip
GRID = {"lsm": 28, "fno": 16, "unet": 32}
BATCH = 2


def _same(v):
    return v


def _bias(v):  # a PyTorch bias (C,) as an Equinox convolution's (C, 1, 1)
    return v.reshape(-1, 1, 1)


def _conv1x1(v):  # a PyTorch Linear weight (O, I) as an Equinox 1x1 convolution's (O, I, 1, 1)
    return v.reshape(*v.shape, 1, 1)


def _transposed(v):  # PyTorch ConvTranspose2d (I, O, k, k) as Equinox's ConvTranspose (O, I, k, k), flipped
    return jnp.flip(jnp.swapaxes(v, 0, 1), axis=(2, 3))


# Per model: (PyTorch name pattern, our path template, the map of the value into our layout); the running
# statistics of a batch norm map onto its `norm` module with `.running_mean` / `.running_var`.
_BN = r"(weight|bias|running_mean|running_var)"
RULES = {
    "lsm": [
        (r"fc(\d)\.(weight|bias)", "fc{0}.{1}", _same),
        (r"outc\.conv\.weight", "outc.weight", _same),
        (r"outc\.conv\.bias", "outc.bias", _bias),
        (r"inc\.double_conv\.(?P<seq>[03])\.weight", "inc.conv{0}.weight", _same),
        (rf"inc\.double_conv\.(?P<seq>[14])\.{_BN}", "inc.norm{0}.{1}", _same),
        (r"down(\d)\.maxpool_conv\.1\.double_conv\.(?P<seq>[03])\.weight", "down{0}.conv{1}.weight", _same),
        (rf"down(\d)\.maxpool_conv\.1\.double_conv\.(?P<seq>[14])\.{_BN}", "down{0}.norm{1}.{2}", _same),
        (r"up(\d)\.conv\.double_conv\.(?P<seq>[03])\.weight", "up{0}.conv.conv{1}.weight", _same),
        (rf"up(\d)\.conv\.double_conv\.(?P<seq>[14])\.{_BN}", "up{0}.conv.norm{1}.{2}", _same),
        (r"process(\d)\.(weights|latent)", "process{0}.{1}", _same),
        (r"process(\d)\.(encoder_attn|decoder_attn)\.weight", "process{0}.{1}.weight", _same),
        (r"process(\d)\.(encoder_attn|decoder_attn)\.bias", "process{0}.{1}.bias", _bias),
    ],
    "fno": [
        (r"fc(\d)\.weight", "fc{0}.weight", _conv1x1),
        (r"fc(\d)\.bias", "fc{0}.bias", _bias),
        (r"conv(\d)\.weights([12])", "spectral_convs[{0}].weights[{1}]", _same),
        (r"w(\d)\.weight", "pointwise_convs[{0}].weight", _same),
        (r"w(\d)\.bias", "pointwise_convs[{0}].bias", _bias),
    ],
    "unet": [
        (r"encoder(\d)\.enc\dconv(\d)\.weight", "encoders[{0}].conv{1}.weight", _same),
        (rf"encoder(\d)\.enc\dnorm(\d)\.{_BN}", "encoders[{0}].norm{1}.{2}", _same),
        (r"bottleneck\.bottleneckconv(\d)\.weight", "bottleneck.conv{0}.weight", _same),
        (rf"bottleneck\.bottlenecknorm(\d)\.{_BN}", "bottleneck.norm{0}.{1}", _same),
        (r"upconv(\d)\.weight", "up_convs[{0}].weight", _transposed),
        (r"upconv(\d)\.bias", "up_convs[{0}].bias", _bias),
        (r"decoder(\d)\.dec\dconv(\d)\.weight", "decoders[{0}].conv{1}.weight", _same),
        (rf"decoder(\d)\.dec\dnorm(\d)\.{_BN}", "decoders[{0}].norm{1}.{2}", _same),
        (r"conv\.weight", "head.weight", _same),
        (r"conv\.bias", "head.bias", _bias),
    ],
}  # fmt: skip


def our_path(model: str, name: str) -> str:
    """The attribute path in our model of the PyTorch tensor `name`, and the map into our layout."""
    for pattern, template, convert in RULES[model]:
        m = re.fullmatch(pattern, name)
        if m is None:
            continue
        groups = list(m.groups())
        if "seq" in m.re.groupindex:  # nn.Sequential's [conv, bn, relu, conv, bn, relu] -> conv1, norm1, ...
            i = m.re.groupindex["seq"] - 1
            groups[i] = {"0": "1", "1": "1", "3": "2", "4": "2"}[groups[i]]
        if model == "unet" and template.startswith(("encoders", "up_convs", "decoders")):
            level = int(groups[0])  # PyTorch counts from 1, the decoders and up-convolutions from the finest
            groups[0] = str(level - 1 if template.startswith("encoders") else 4 - level)
        if model == "fno" and template.startswith("spectral"):
            groups[1] = str(int(groups[1]) - 1)
        return template.format(*groups), convert
    raise AssertionError(f"no rule maps the reference tensor {name!r} of {model}")


def _get(tree, path: str):
    for part in re.findall(r"[A-Za-z_]\w*|\[\d+\]", path):
        tree = tree[int(part[1:-1])] if part.startswith("[") else getattr(tree, part)
    return tree


def _stat(path: str):
    """`(norm path, 0 or 1)` for a running statistic, else None."""
    for i, leaf in enumerate(("running_mean", "running_var")):
        if path.endswith("." + leaf):
            return path[: -len(leaf) - 1], i
    return None


@pytest.fixture(scope="module")
def data():
    with np.load(DATA) as f:
        return {k: f[k] for k in f.files}


def load(model_name: str, data):
    """Our model and state (float64) holding the reference weights, by the recipe stored with them."""
    model, state = filled(BUILD[model_name], 0, jnp.float64)
    names, recipe, sums = (
        data[f"{model_name}/names"],
        data[f"{model_name}/recipe"],
        data[f"{model_name}/sums"],
    )
    params, stats = {}, {}
    for name, (seed, low, high, is_complex), total in zip(names, recipe, sums):
        shape = _get_shape(model, state, model_name, str(name))
        values = np.random.default_rng(int(seed)).uniform(low, high, shape + ((2,) if is_complex else ()))
        assert values.sum() == pytest.approx(total, rel=1e-14), f"NumPy no longer draws {name} the same"
        path, convert = our_path(model_name, str(name))
        if (s := _stat(path)) is not None:
            stats.setdefault(s[0], [None, None])[s[1]] = jnp.asarray(values)
        else:
            params[path] = convert(jnp.asarray(values))
    paths = list(params)
    model = eqx.tree_at(lambda m: [_get(m, p) for p in paths], model, [params[p] for p in paths])
    for norm_path, (mean, var) in stats.items():
        state = state.set(_get(model, norm_path).state_index, (mean, var))
    n_ours = len(jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))
    assert len(params) == n_ours, "every leaf of our model must come from a reference tensor"
    return model, state


def _get_shape(model, state, model_name, name) -> tuple[int, ...]:
    """The PyTorch shape of tensor `name` (as the recipe draws it), from our model's leaf."""
    path, convert = our_path(model_name, name)
    if (s := _stat(path)) is not None:
        return tuple(state.get(_get(model, s[0]).state_index)[s[1]].shape)
    ours = _get(model, path).shape
    if convert is _transposed:
        return (ours[1], ours[0], *ours[2:])
    if convert is _bias:
        return (ours[0],)
    if convert is _conv1x1:
        return tuple(ours[:2])
    if model_name == "fno" and path.startswith("spectral"):
        return tuple(ours[:-1])
    return tuple(ours)


def batch(model_name: str):
    rng = np.random.default_rng(7 + list(BUILD).index(model_name))
    shape = (BATCH, 1, GRID[model_name], GRID[model_name])
    return jnp.asarray(rng.standard_normal(shape)), jnp.asarray(rng.standard_normal(shape))


@pytest.mark.parametrize("model_name", ["lsm", "fno", "unet"])
def test_outputs_statistics_and_gradients_match_the_pytorch_reference(model_name, data, x64):
    model, state = load(model_name, data)
    x, probe = batch(model_name)

    @eqx.filter_jit
    def loss_and_grads(model, x):
        def loss(model, x):
            y, new_state = apply_batch(model, state, x)
            return jnp.sum(y * probe), (y, new_state)

        return eqx.filter_grad(loss, has_aux=True)(model, x), jax.grad(lambda x: loss(model, x)[0])(x)

    (grads, (y, new_state)), grad_x = loss_and_grads(model, x)
    ref_y = data[f"{model_name}/y"]
    scale = np.abs(ref_y).max()
    np.testing.assert_allclose(np.asarray(y), ref_y, rtol=0, atol=TOL * scale)
    np.testing.assert_allclose(np.asarray(grad_x), data[f"{model_name}/grad_x"], rtol=0,
                               atol=TOL * np.abs(data[f"{model_name}/grad_x"]).max())  # fmt: skip

    # every parameter's gradient, projected on the stored direction, and its norm
    for i, (name, dot, sq) in enumerate(
        zip(data[f"{model_name}/param_names"], data[f"{model_name}/grad_dot"], data[f"{model_name}/grad_sq"])
    ):
        path, convert = our_path(model_name, str(name))
        g = _to_torch_layout(_get(grads, path), convert, model_name, path)
        direction = np.random.default_rng(50_000 + 1000 * list(BUILD).index(model_name) + i).standard_normal(
            g.shape
        )
        assert float(jnp.sum(g**2)) == pytest.approx(float(sq), rel=TOL, abs=1e-20), name
        assert float(jnp.sum(g * direction)) == pytest.approx(float(dot), abs=TOL * np.sqrt(sq * g.size)), (
            name
        )

    # the batch-norm running statistics after one training-mode pass
    offset = 0
    stats = data[f"{model_name}/stats"]
    for name in data[f"{model_name}/stat_names"]:
        norm_path, which = _stat(our_path(model_name, str(name))[0])
        ours = np.asarray(new_state.get(_get(model, norm_path).state_index)[which])
        np.testing.assert_allclose(ours, stats[offset : offset + ours.size], rtol=TOL, atol=TOL, err_msg=name)
        offset += ours.size
    assert offset == stats.size


def _to_torch_layout(g, convert, model_name, path):
    if convert is _transposed:
        return jnp.swapaxes(jnp.flip(g, axis=(2, 3)), 0, 1)
    if convert is _bias:
        return g.reshape(-1)
    if convert is _conv1x1:
        return g.reshape(g.shape[:2])
    return g
