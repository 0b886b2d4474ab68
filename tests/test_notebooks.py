"""The notebooks of `notebooks/`: each `.ipynb` is the output-free jupytext conversion of its `.py`, points at
the repository named in pyproject.toml (badge and install cell), and (slow tier) runs from top to bottom at CI
size: the notebook's own cells, with a cell inserted after its `parameters` cell (papermill's convention) that
sets fewer samples, steps and smaller grids and models."""

import ast
import importlib.util
import os
import pathlib
import time

import jupytext
import nbformat
import pytest

ROOT = pathlib.Path(__file__).parents[1]
NOTEBOOKS = ROOT / "notebooks"

_spec = importlib.util.spec_from_file_location("notebooks_sync", NOTEBOOKS / "sync.py")
sync = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sync)

# CI size: values of names the parameters cell assigns (checked below), nothing else
CI = {
    "01_core_and_data": {
        "N_POINTS": 200,
        "TIME_POINTS": [8, 16, 32],
        "N_TRAIN": 2,
        "N_TEST": 1,
        "DARCY_RESOLUTION": 17,
        "BURGERS_RESOLUTION": 128,
        "NS_RESOLUTION": 16,
        "NS_RECORDS": 3,
        "KS_RESOLUTION": 64,
        "KS_RECORDS": 16,
    },
    "02_operators": {
        "N_TRAIN": 16,
        "N_TEST": 4,
        "RESOLUTION": 16,
        "EPOCHS": 2,
        "MODELS": {
            "FNO": dict(modes=4, width=8, n_layers=2),
            "U-Net": dict(width=4, depth=2),
            "LSM": dict(width=8),
            "MgNO": dict(width=4, n_layers=2, num_iteration=[[1, 0], [1, 0], [1, 0]]),
        },
        "CAPE_CELLS": 64,
        "CAPE_EVERY_X": 2,
        "CAPE_T_FINAL": 0.15,
        "CAPE_TRAIN_PER_BETA": 2,
        "CAPE_TEST_PER_BETA": 1,
        "CAPE_EPOCHS": 4,
        "CAPE_BATCH_SIZE": 5,
        "CAPE_FNO": dict(modes=4, width=8, n_layers=2, padding=2),
        "CAPE_MODULE": dict(width=8, kernel_size=3, modes=4),
    },
    "03_pinns": {
        "STEPS": 30,
        "N_GAUSSIANS": 20,
        "N_COLLOCATION": 128,
        "PINN_WIDTH": 16,
        "PINN_DEPTH": 2,
        "SAMPLING_STEPS": 40,
        "SAMPLING_POINTS": 100,
        "AAS_RESAMPLE_EVERY": 20,
    },
    "04_solvers": {"TOL": 1e-3},  # the shipped network's grid, 16^3, is already small
    "05_sde": {
        "CONTROL_WIDTH": 8,
        "SDE_CONFIG": dict(dt=0.1, solver="euler", samples=4, steps=50, learning_rate=3e-3),
        "N_PATHS": 100,
        "FKC_PARTICLES": 500,
        "FKC_STEPS": 100,
    },
    "06_control": {
        "N": 128,
        "SPINUP": 20.0,
        "SPAN": 3.0,
        "SAMPLES": 5,
        "FORECAST_TIME": 1.0,
        "MEMBERS_PER_POINT": (1, 2),
    },
}
NAMES = [py.stem for py in sync.sources()]


def _parameters_cell(nb) -> int:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def _assigned(source: str) -> set[str]:
    """The names assigned at the top level of a cell (or in its `if PAPER_SCALE:` block)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                elts = target.elts if isinstance(target, ast.Tuple) else [target]
                names |= {e.id for e in elts if isinstance(e, ast.Name)}
    return names


def _without_ids(nb) -> dict:
    d = nbformat.from_dict(nb)
    for cell in d.cells:
        cell.pop("id", None)
    return d


def test_every_notebook_has_its_pair_and_ci_settings():
    assert NAMES, "no notebooks found"
    pairs = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert pairs == set(NAMES), "each notebooks/NN_*.py needs its .ipynb and each .ipynb its .py"
    assert set(CI) == set(NAMES), "each notebook needs its CI-size parameters in CI"


def test_in_sync_with_sources_and_pyproject():
    out_of_date = sync.sync(check=True)
    assert not out_of_date, (
        f"out of date: {[str(p.relative_to(ROOT)) for p in out_of_date]}; run `python notebooks/sync.py`"
    )


def test_sync_moves_every_notebook_to_a_new_repository_address(tmp_path):
    # the address lives in pyproject only: changing it there and running sync moves badges and install lines
    (tmp_path / "notebooks").mkdir()
    for py in sync.sources()[:2]:
        (tmp_path / "notebooks" / py.name).write_text(py.read_text(encoding="utf-8"), encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    old = sync.repository_url()
    (tmp_path / "pyproject.toml").write_text(pyproject.replace(old, "https://github.com/someone/fork"))
    changed = sync.sync(tmp_path)
    assert len(changed) == 4 and not sync.sync(tmp_path, check=True)
    for py in sync.sources(tmp_path):
        for path in (py, py.with_suffix(".ipynb")):
            text = path.read_text(encoding="utf-8")
            assert old not in text
            assert (
                f"colab.research.google.com/github/someone/fork/blob/main/notebooks/{py.stem}.ipynb" in text
            )
            assert "scimlx @ git+https://github.com/someone/fork" in text


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_valid_without_outputs_and_points_at_the_repository(name):
    py, ipynb = NOTEBOOKS / f"{name}.py", NOTEBOOKS / f"{name}.ipynb"
    nb = nbformat.read(ipynb, as_version=nbformat.NO_CONVERT)
    assert nb.nbformat == 4
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), (
        "commit the .ipynb without outputs"
    )
    assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    # the .ipynb is jupytext's conversion of the .py (cell ids aside)
    converted = nbformat.reads(
        jupytext.writes(jupytext.read(py), fmt="ipynb"), as_version=nbformat.NO_CONVERT
    )
    assert _without_ids(nb) == _without_ids(converted)

    repo = sync.repository_url()
    title = nb.cells[0]
    assert title.cell_type == "markdown" and title.source.startswith("# ")
    assert f"[![Open In Colab]({sync.BADGE_IMAGE})]({sync.colab_url(repo, name)})" in title.source
    install = [c for c in code if "google.colab" in c.source]
    assert len(install) == 1 and f'"{sync.install_spec(repo)}"' in install[0].source
    assert "PAPER_SCALE = False" in nb.cells[_parameters_cell(nb)].source
    unknown = set(CI[name]) - _assigned(nb.cells[_parameters_cell(nb)].source)
    assert not unknown, f"CI overrides names the parameters cell does not set: {sorted(unknown)}"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_at_ci_size(name, tmp_path_factory, monkeypatch):
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    overrides = "\n".join(f"{k} = {v!r}" for k, v in CI[name].items())
    cell = nbformat.v4.new_code_cell(f"# CI size (inserted by the test)\n{overrides}")
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(_parameters_cell(nb) + 1, cell)
    # the kernel inherits the environment: data in a temporary directory shared by the notebooks, compiled
    # programs in the test run's cache (conftest), no display
    monkeypatch.setenv("SCIMLX_DATA", str(tmp_path_factory.getbasetemp() / "notebook-data"))
    if "SCIMLX_JAX_CACHE" not in os.environ:
        monkeypatch.setenv("SCIMLX_JAX_CACHE", str(tmp_path_factory.mktemp("jax-cache")))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    workdir = tmp_path_factory.mktemp(name)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    t0 = time.perf_counter()
    client.execute()
    print(f"{name}: {time.perf_counter() - t0:.1f} s at CI size")
