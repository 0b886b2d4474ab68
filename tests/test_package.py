import importlib.metadata
import pathlib
import subprocess
import sys

import scimlx


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
