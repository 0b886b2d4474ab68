"""`scimlx data list` and `scimlx data generate`."""

import json

import numpy as np

from scimlx.bench._cli import main
from scimlx.datasets import read_array_file, recipe_names

TINY = ["--resolution", "32", "--param", "t_final=0.05", "--param", "dt_save=0.01", "--no-progress"]


def test_data_list_shows_every_recipe(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in recipe_names():
        assert f"| {name} |" in out
    assert len(recipe_names()) == 7
    assert main(["data", "list", "navier_stokes_2d"]) == 0
    out = capsys.readouterr().out
    assert "| parameter | default (CPU) | paper |" in out and "| dt | 0.0005 | 0.0001 |" in out
    assert main(["data", "list", "nosuch"]) == 2


def test_data_generate_to_file_and_cache(tmp_path, capsys, monkeypatch):
    out = tmp_path / "adv.npz"
    argv = ["data", "generate", "advection_1d", "--n", "3", "--seed", "4", "--out", str(out), *TINY]
    assert main(argv + ["--param", "beta=(0.5, -1.0)", "--plot", str(tmp_path / "adv.png")]) == 0
    assert (tmp_path / "adv.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "advection_1d: 3 samples in" in printed and "samples/s" in printed
    arrays = read_array_file(out)
    assert arrays["u"].shape == (3, 6, 32)
    np.testing.assert_array_equal(arrays["beta"], [0.5, -1.0, 0.5])
    side = json.loads(out.with_name(out.name + ".json").read_text())
    assert side["generator"] == "advection_1d" and side["seed"] == 4 and side["params"]["resolution"] == 32
    # never overwritten without being asked
    assert main(argv) == 2
    assert "exists" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0
    # into the cache
    monkeypatch.setenv("SCIMLX_DATA", str(tmp_path / "cache"))
    assert main(["data", "generate", "advection_1d", "--n", "2", *TINY]) == 0
    assert str(tmp_path / "cache") in capsys.readouterr().out
    assert main(["data", "generate", "advection_1d", "--n", "2", *TINY]) == 0
    assert "read from the cache" in capsys.readouterr().out
    # a train/test pair generated from the command line is what `load` then reads
    assert main(["data", "generate", "advection_1d", "--n", "2", "--n-test", "1", *TINY]) == 0
    capsys.readouterr()
    from scimlx.datasets import load

    ds = load("advection_1d", 2, 1, resolution=32, t_final=0.05, dt_save=0.01, progress=False)
    assert ds.metadata["from_cache"] and ds.x_test.shape == (1, 1, 32)
    assert main(["data", "generate", "advection_1d", "--n", "2", "--n-test", "1", "--out", str(out)]) == 2


def test_data_generate_bad_input_is_a_clear_error(tmp_path, capsys):
    assert main(["data", "generate", "nosuch", "--n", "2"]) == 2
    assert "unknown data set 'nosuch'" in capsys.readouterr().err
    assert main(["data", "generate", "advection_1d", "--n", "2", *TINY, "--param", "beta=0"]) == 2
    assert "beta" in capsys.readouterr().err
    assert main(["data", "generate", "advection_1d", "--n", "2", "--param", "nonsense"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert main(["data", "generate", "advection_1d", "--n", "2", "--out", str(tmp_path / "a.csv")]) == 2
    assert "must end in" in capsys.readouterr().err
    assert main(["data", "generate", "advection_1d", "--n", "0", *TINY]) == 2


def test_datasets_bench_suite_cases():
    from scimlx.bench import get_suite
    from scimlx.bench._datasets import darcy_vs_scipy, ks_vs_numpy

    names = [c.name for c in get_suite("datasets").cases(True)]
    assert names[: len(recipe_names())] == [f"throughput/{n}" for n in recipe_names()]
    assert names[-3:] == ["darcy_vs_scipy", "navier_stokes_vs_numpy", "ks_vs_numpy"]
    # the comparisons check that both sides computed the same answer
    assert float(darcy_vs_scipy(17, 2)["max rel. difference"]) < 1e-5
    assert float(ks_vs_numpy(20)["max rel. difference"]) < 1e-12
