"""The PyTorch reference models of LSM, FNO and the PDEBench U-Net, for the stored-reference tests and the
speed comparison (`benchmarks/operator_speed.py`).

Nothing here is a dependency of scimlx: PyTorch and the reference repositories are only needed to run the
two scripts. The reference code is cloned at pinned commits into a scratch folder (`--refs`, default
`~/.cache/scimlx-references`) and never copied into this repository.

    python benchmarks/torch_reference.py            # writes tests/operators/data/torch_references.npz

The stored file holds, for a small configuration of each model, the recipe of its weights (one seed and
one range per tensor, so the test regenerates them with NumPy instead of storing them), a batch, the
reference's output in training mode, its batch-norm running statistics after that forward pass, and the
gradient of `sum(y * probe)` with respect to the input and, per parameter tensor, its inner product with a
fixed probe and its squared norm. Everything is computed in float64: the reference code runs unchanged, with
the dtype names it spells out (`torch.float`, `torch.cfloat`) mapped to their double-precision kinds.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import pathlib
import subprocess
import sys

import numpy as np

#: The reference repositories and the commits the models are taken from.
REPOSITORIES = {
    "Latent-Spectral-Models": (
        "https://github.com/thuml/Latent-Spectral-Models",
        "d5a0b409ecf558919c1ef7ea59ff636a94935399",
    ),
    "PDEBench": ("https://github.com/pdebench/PDEBench", "9754b4c0ee2bcb967233a89d1c8a6a58bf7f7bc9"),
}

#: The small configurations of the stored references (the speed script uses the Darcy ones).
SMALL = {
    "lsm": dict(width=8, num_basis=12, num_token=4, patch=2, padding=4, grid=28, batch=2),
    "fno": dict(width=8, modes=4, padding=3, grid=16, batch=2),
    "unet": dict(width=2, grid=32, batch=2),
}

DEFAULT_REFS = pathlib.Path.home() / ".cache" / "scimlx-references"
DEFAULT_OUT = (
    pathlib.Path(__file__).resolve().parents[1] / "tests" / "operators" / "data" / "torch_references.npz"
)


def checkout(refs: pathlib.Path) -> dict[str, pathlib.Path]:
    """Clone each reference repository into `refs` (once) and check out its pinned commit."""
    paths = {}
    for name, (url, commit) in REPOSITORIES.items():
        path = refs / name
        if not path.exists():
            refs.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "clone", "--quiet", url, str(path)], check=True)
        subprocess.run(["git", "-C", str(path), "checkout", "--quiet", commit], check=True)
        paths[name] = path
    return paths


def _load(path: pathlib.Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Torch64:
    """`torch` with its float32 and complex64 dtype names meaning float64 and complex128: the reference code
    names them explicitly for constants and buffers (`torch.float`, `torch.cfloat`), and `Module.double()`
    converts neither those nor complex parameters."""

    def __getattr__(self, name):
        import torch

        return {"float": torch.float64, "cfloat": torch.cdouble}.get(name) or getattr(torch, name)


def build(name: str, paths: dict[str, pathlib.Path], config: dict, *, float64: bool = True):
    """The reference model `name` (`"lsm"`, `"fno"` or `"unet"`) at `config`, in float64 or float32."""
    import torch

    if name == "unet":
        module = _load(paths["PDEBench"] / "pdebench" / "models" / "unet" / "unet.py", "pdebench_unet")
        model = module.UNet2d(in_channels=1, out_channels=1, init_features=config["width"])
        return model.double() if float64 else model
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self  # LSM builds a constant with `.cuda()`; run on the CPU
    try:
        file = "LSM_2D.py" if name == "lsm" else "FNO_2D.py"
        module = _load(paths["Latent-Spectral-Models"] / "models" / file, f"reference_{name}")
        if float64:
            module.torch = _Torch64()
        args = argparse.Namespace(
            in_dim=1,
            out_dim=1,
            d_model=config["width"],
            num_basis=config.get("num_basis", config.get("modes")),
            num_token=config.get("num_token", 4),
            patch_size=f"{config.get('patch', 1)},{config.get('patch', 1)}",
            padding=f"{config['padding']},{config['padding']}",
        )
        model = module.Model(args)
    finally:
        torch.Tensor.cuda = cuda
    return model.double() if float64 else model


def weight_recipe(name: str, shape: tuple[int, ...]) -> tuple[float, float]:
    """The range `(low, high)` of the uniform draw of tensor `name`: around the initialisations of the
    references, with non-trivial batch-norm affine parameters and running statistics."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        return 0.5, 1.5
    if leaf == "running_mean":
        return -0.2, 0.2
    if "norm" in name or name.split(".")[-2].isdigit() and leaf in ("weight", "bias") and len(shape) == 1:
        return (0.5, 1.5) if leaf == "weight" else (-0.2, 0.2)
    if leaf in ("weights", "latent") or leaf.startswith("weights"):
        return 0.0, 2.0 / shape[0]
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
    bound = 1.0 / math.sqrt(fan_in)
    return -bound, bound


def draw(seed: int, shape: tuple[int, ...], low: float, high: float, complex_: bool) -> np.ndarray:
    """One tensor of the recipe (a complex one draws its real and imaginary parts, `(..., 2)`)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, tuple(shape) + ((2,) if complex_ else ()))


def generate(paths: dict[str, pathlib.Path]) -> dict[str, np.ndarray]:
    """Every small model's weight recipe, batch seed, output, gradients and batch-norm statistics."""
    import torch

    out: dict[str, np.ndarray] = {}
    for index, (model_name, config) in enumerate(SMALL.items()):
        model = build(model_name, paths, config)
        tensors = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
        names = sorted(tensors)
        recipe, sums = [], []
        with torch.no_grad():
            for i, key in enumerate(names):
                t = tensors[key]
                seed = 1000 * (index + 1) + i
                low, high = weight_recipe(key, tuple(t.shape))
                values = draw(seed, tuple(t.shape), low, high, t.is_complex())
                if t.is_complex():
                    t.copy_(torch.complex(torch.from_numpy(values[..., 0]), torch.from_numpy(values[..., 1])))
                else:
                    t.copy_(torch.from_numpy(values))
                recipe.append([seed, low, high, float(t.is_complex())])
                sums.append(values.sum())
        x, probe = batch(model_name)
        model.train()
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        y = model(xt.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) if model_name != "unet" else model(xt)
        (y * torch.from_numpy(probe)).sum().backward()
        params = [(k, p.grad) for k, p in model.named_parameters()]
        dots, squares = [], []
        for i, (key, g) in enumerate(params):
            g = (torch.view_as_real(g) if g.is_complex() else g).numpy()
            dots.append((g * grad_probe(model_name, i, g.shape)).sum())
            squares.append((g**2).sum())
        stats = [
            (k, t.numpy().copy()) for k, t in model.state_dict().items() if k.endswith(("_mean", "_var"))
        ]
        out.update({
            f"{model_name}/names": np.array(names),
            f"{model_name}/recipe": np.array(recipe),
            f"{model_name}/sums": np.array(sums),
            f"{model_name}/y": y.detach().numpy(),
            f"{model_name}/grad_x": xt.grad.numpy(),
            f"{model_name}/param_names": np.array([k for k, _ in params]),
            f"{model_name}/grad_dot": np.array(dots),
            f"{model_name}/grad_sq": np.array(squares),
            f"{model_name}/stat_names": np.array([k for k, _ in stats]),
            f"{model_name}/stats": np.concatenate([v for _, v in stats] or [np.zeros(0)]),
        })  # fmt: skip
        n_params = sum(p.numel() for p in model.parameters())
        print(f"{model_name}: {n_params:,} parameters, max |y| = {np.abs(out[f'{model_name}/y']).max():.3g}")
    return out


def batch(model_name: str) -> tuple[np.ndarray, np.ndarray]:
    """The input batch `(B, 1, n, n)` of a small model and the probe of its output (the same shape)."""
    config = SMALL[model_name]
    rng = np.random.default_rng(7 + list(SMALL).index(model_name))
    shape = (config["batch"], 1, config["grid"], config["grid"])
    return rng.standard_normal(shape), rng.standard_normal(shape)


def grad_probe(model_name: str, i: int, shape: tuple[int, ...]) -> np.ndarray:
    """The fixed direction the gradient of parameter `i` (PyTorch's order; complex as `(..., 2)`) is
    projected on."""
    return np.random.default_rng(50_000 + 1000 * list(SMALL).index(model_name) + i).standard_normal(shape)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--refs", type=pathlib.Path, default=DEFAULT_REFS, help="scratch folder of the clones"
    )
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="the .npz to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.overwrite:
        sys.exit(f"--out {args.out} exists; pass --overwrite to replace it")
    data = generate(checkout(args.refs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **data)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
