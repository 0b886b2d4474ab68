"""DCDM networks trained by scimlx and shipped with the package."""

from __future__ import annotations

import hashlib
import json
import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp

from scimlx.core.validate import check_choice

from ._dcdm import DCDMNet

_WEIGHTS = pathlib.Path(__file__).parent / "_weights"
PRETRAINED = ("poisson16",)


def pretrained_dcdm(name: str = "poisson16") -> DCDMNet:
    """A [`DCDMNet`][scimlx.solvers.DCDMNet] trained by scimlx, loaded from the package (no download).

    - `"poisson16"`: variant 64 in 3-D, trained on one 16^3 pressure-Poisson system (spheres and a box in a
      tank with an open top, `scimlx.datasets.make_geometry`) from 800 right-hand sides over 400 Ritz vectors,
      Adam at lr 1e-3, batch 10 (`benchmarks/dcdm_pretrained.py` remakes it; the recipe, the figures measured
      on unseen geometries and the file's SHA-256 are in the JSON file beside it). On eight unseen 16^3
      geometries of the same kind it reached a relative residual of 1e-4 in 24-32 iterations where CG took
      88-101; it was not trained for larger grids.

    **Arguments:**

    - `name`: which network.

    **Returns:** the network; [`pretrained_info`][scimlx.solvers.pretrained_info] gives its JSON record.
    """
    check_choice("name", name, PRETRAINED)
    meta = pretrained_info(name)
    path = _WEIGHTS / f"dcdm_{name}.eqx"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != meta["sha256"]:
        raise ValueError(f"the shipped weights {path.name} are damaged (SHA-256 mismatch); reinstall scimlx")
    net = meta["network"]
    like = eqx.filter_eval_shape(  # float32 as saved, whether or not 64-bit mode is on
        lambda: DCDMNet(net["ndim"], net["variant"], dtype=jnp.float32, key=jax.random.key(0))
    )
    return eqx.tree_deserialise_leaves(path, like)


def pretrained_info(name: str = "poisson16") -> dict:
    """The JSON record of a shipped DCDM network: its recipe, the training figures and the iterations
    measured against CG on unseen geometries."""
    check_choice("name", name, PRETRAINED)
    return json.loads((_WEIGHTS / f"dcdm_{name}.json").read_text())
