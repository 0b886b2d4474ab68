"""Run every python example of README.md in a fresh interpreter, twice (compile cache empty, then warm), and
print what each prints and how long it took: the figures the README's comments state.

    python benchmarks/readme_examples.py            # all examples
    python benchmarks/readme_examples.py 3 5        # the 3rd and 5th python blocks

Data and compiled programs go to a temporary directory, so the user's caches are not touched.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

README = pathlib.Path(__file__).parents[1] / "README.md"
SKIP = ("jax.distributed.initialize",)  # cluster-only lines


def blocks() -> list[str]:
    return [b.split("```", 1)[0] for b in README.read_text().split("```python\n")[1:]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("blocks", nargs="*", type=int, help="which python blocks (1-based; default all)")
    chosen = p.parse_args().blocks
    n = len(blocks())
    if any(not 1 <= b <= n for b in chosen):
        p.error(f"blocks must be between 1 and {n}, got {chosen}")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SCIMLX_DATA": f"{tmp}/data", "SCIMLX_JAX_CACHE": f"{tmp}/jax"}
        for i, block in enumerate(blocks(), start=1):
            if (chosen and i not in chosen) or any(s in block for s in SKIP):
                continue
            for run in ("cold", "warm"):
                t0 = time.perf_counter()
                out = subprocess.run([sys.executable, "-c", block], env=env, capture_output=True, text=True)
                seconds = time.perf_counter() - t0
                print(f"--- block {i}, {run} cache: {seconds:.1f} s, exit {out.returncode}")
                print(out.stdout.rstrip())
                if out.returncode:
                    print(out.stderr[-2000:])


if __name__ == "__main__":
    main()
