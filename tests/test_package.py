import importlib.metadata
import pathlib
import subprocess
import sys

import scimlx
from tests.readme import README, run_readme_block


def test_version_and_typed_marker():
    assert scimlx.__version__ == importlib.metadata.version("scimlx")
    assert (pathlib.Path(scimlx.__file__).parent / "py.typed").is_file()


def test_import_is_light():
    code = (
        "import sys, scimlx, scimlx.core, scimlx.train, scimlx.bench\n"
        "heavy = [m for m in ('matplotlib', 'tqdm', 'h5py', 'flax', 'diffrax') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_readme_example_runs_and_is_accurate():
    block = README.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    assert len(block.strip().splitlines()) < 20
    namespace = run_readme_block(1, "PointField")
    assert float(abs(namespace["at_points"]).max()) < 1e-6
    assert float(abs(namespace["on_grid"]).max()) < 1e-4


def test_readme_quick_start_is_the_ci_command():
    root = pathlib.Path(__file__).parents[1]
    readme = (root / "README.md").read_text()
    ci = (root / ".ci" / "run").read_text()
    assert "pip install -e . && scimlx bench smoke" in readme
    assert "pip install -e '.[test]' && pytest" in readme
    assert "pip install -e '.[test]' && pytest" in ci


def test_enable_compilation_cache(tmp_path, monkeypatch):
    import jax

    import scimlx

    before = jax.config.jax_compilation_cache_dir
    monkeypatch.setenv("SCIMLX_JAX_CACHE", "0")
    assert scimlx.enable_compilation_cache() is None  # disabled by the environment
    try:
        path = scimlx.enable_compilation_cache(tmp_path / "jax")
        assert path == tmp_path / "jax" and path.is_dir()
        assert jax.config.jax_compilation_cache_dir == str(path)
        monkeypatch.delenv("SCIMLX_JAX_CACHE")
        assert scimlx.enable_compilation_cache() is None  # already configured: left alone
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_import_enables_the_compilation_cache(tmp_path):
    """Importing scimlx turns JAX's disk cache on (the user cache directory, or `$SCIMLX_JAX_CACHE`), unless
    `SCIMLX_JAX_CACHE=0`; three interpreters at once."""
    import os

    code = "import scimlx, jax; print(jax.config.jax_compilation_cache_dir)"
    base = {k: v for k, v in os.environ.items() if k != "SCIMLX_JAX_CACHE"}
    envs = {
        "default": {**base, "XDG_CACHE_HOME": str(tmp_path / "xdg")},
        "env": {**base, "SCIMLX_JAX_CACHE": str(tmp_path / "mine")},
        "off": {**base, "SCIMLX_JAX_CACHE": "0"},
    }
    procs = {
        name: subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for name, env in envs.items()
    }
    out = {name: p.communicate(timeout=120)[0].strip() for name, p in procs.items()}
    assert all(p.returncode == 0 for p in procs.values())
    if sys.platform.startswith("linux"):
        assert out["default"] == str(tmp_path / "xdg" / "scimlx" / "jax")
    assert out["env"] == str(tmp_path / "mine") and (tmp_path / "mine").is_dir()
    assert out["off"] == "None"
