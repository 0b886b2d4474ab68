"""MEDIDA's noise-free KS discovery on the paper's grid, on a CPU.

The `ks/*` cases of `scimlx bench control` at the paper preset also run the 1% noise variants with EnKF
ensembles of 10,240 members (a GPU's work); this script runs only their noise-free part on MEDIDA's own
settings (N = 1024, L = 100, ETDRK4 truth at dt = 1e-3 in float64, spin-up 100, records over t in [100, 200]
at the model step 5e-3, 10 samples): the discovered terms of every case, their errors and the forecast RMSE
one time unit ahead for the imperfect and the corrected model. The figures of `benchmarks/RESULTS.md`
("Control").

Usage: python benchmarks/medida_paper_grid.py
"""

import os
import platform
import time

import jax

from scimlx.bench import markdown_table
from scimlx.bench._control import ks_clean
from scimlx.control import MEDIDA_CASES


def main() -> None:
    device = jax.devices()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, jax {jax.__version__} on {device}")
    rows = []
    for family, case in MEDIDA_CASES:
        t0 = time.perf_counter()
        row = {"case": f"ks/{family}/{case}", **ks_clean(False, family, case)}
        row["wall_s"] = time.perf_counter() - t0
        rows.append(row)
        print(row["case"], row["discovered"], f"{row['wall_s']:.1f} s", flush=True)
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
