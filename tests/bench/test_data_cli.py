"""`scimlx data list` and `scimlx data generate`."""

import json
import os

import numpy as np
import pytest

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


@pytest.mark.slow
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
    assert "unknown data set 'nosuch' (argument NAME)" in capsys.readouterr().err
    assert main(["data", "generate", "advection_1d", "--n", "2", *TINY, "--param", "beta=0"]) == 2
    assert "beta" in capsys.readouterr().err
    assert main(["data", "generate", "advection_1d", "--n", "2", "--param", "nonsense"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert main(["data", "generate", "advection_1d", "--n", "2", "--out", str(tmp_path / "a.csv")]) == 2
    assert "must end in" in capsys.readouterr().err
    assert main(["data", "generate", "advection_1d", "--n", "0", *TINY]) == 2


@pytest.fixture
def no_work(monkeypatch, tmp_path):
    """Generation fails the test if it starts; the cache is an empty temporary directory."""
    import scimlx.datasets._dataset as dmod
    import scimlx.datasets._recipe as rmod

    def generate_parts(*args, **kwargs):
        raise AssertionError("generation started")

    monkeypatch.setattr(rmod, "_generate_parts", generate_parts)
    monkeypatch.setattr(dmod, "_generate_parts", generate_parts)
    monkeypatch.setenv("SCIMLX_DATA", str(tmp_path / "cache"))


def test_every_error_names_its_flag_before_any_work(tmp_path, capsys, no_work):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    old_png = tmp_path / "old.png"
    old_png.write_bytes(b"")
    (tmp_path / "old.npz.json").write_text("{}")
    gen = ["data", "generate", "advection_1d"]
    cases = [
        (["--n", "0"], "`--n` must be an integer >= 1, got 0"),
        (["--n-test", "-1"], "`--n-test` must be an integer >= 0, got -1"),
        (["--seed", "-3"], "`--seed` must be an integer in [0, 4294967295], got -3"),
        (["--seed", str(2**32)], "`--seed` must be an integer in [0, 4294967295], got 4294967296"),
        (["--resolution", "0"], "`--resolution` must be an integer >= 1, got 0"),
        (["--resolution", "8"], "`--resolution` must be an integer >= 17, got 8"),  # the recipe's own bound
        (["--chunk-size", "0"], "`--chunk-size` must be an integer >= 1, got 0"),
        (["--param", "beta"], "`--param` must look like NAME=VALUE, got 'beta'"),
        (["--param", "beta=1", "--param", "beta=2"], "`--param beta` is given twice"),
        (["--param", "nu=1"], "`--param nu`: 'advection_1d' has no parameter 'nu'; its parameters: resol"),
        (["--param", "cfl=2"], "`--param cfl` must be in (0, 1], got 2"),
        (["--param", "chunk_size=0"], "`--param chunk_size` must be an integer >= 1, got 0"),
        (["--resolution", "32", "--param", "resolution=64"], "`--resolution` and `--param resolution` are"),
        (["--preset", "huge"], "`--preset` 'huge' is not a preset of 'advection_1d'; its presets: paper"),
        (["--plot", str(tmp_path / "p.txt")], "`--plot` must end in .png, .pdf, .svg, .jpg or .jpeg, got"),
        (["--plot", str(tmp_path / "p")], "`--plot` must end in"),
        (["--plot", str(old_png)], f"`--plot` {str(old_png)!r} exists; pass `--overwrite` to replace it"),
        (["--plot", str(tmp_path / "sub.png")], "is a directory; give a file name"),
        (["--plot", str(a_file / "p.png")], f"the directory cannot be created, {str(a_file)!r} is a file"),
        (["--out", str(a_file / "x.npz")], f"the directory cannot be created, {str(a_file)!r} is a file"),
        (["--out", str(tmp_path / "d.npz"), "--n-test", "1"], "`--n-test` applies to the cache"),
        (["--out", str(tmp_path / "old.npz")], "`--out`: its sidecar"),
        (["--out", str(tmp_path / "x.npz"), "--plot", str(tmp_path / "x.npz")], "`--plot` must end in"),
    ]
    (tmp_path / "sub.png").mkdir()
    for flags, message in cases:
        assert main([*gen, *flags]) == 2, flags
        err = capsys.readouterr().err
        assert err.startswith("scimlx: error: ") and err.count("\n") == 1, err
        assert message in err, (flags, err)
    ks = ["data", "generate", "kuramoto_sivashinsky", "--n", "2", "--param", "ic=kassam_trefethen"]
    assert main(ks) == 2
    assert "ask for at most 1 (`--n` = 2)" in capsys.readouterr().err
    assert main(["data", "list", "nosuch"]) == 2
    assert "unknown data set 'nosuch' (argument NAME)" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists() and not list(tmp_path.glob("*.npz"))


def test_an_unwritable_output_directory_is_refused(tmp_path, capsys, no_work, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # as `chmod 500` would do for anyone but root
    monkeypatch.setattr(os, "access", lambda p, mode: str(p) != str(locked) and real_access(p, mode))
    assert main(["data", "generate", "advection_1d", "--plot", str(locked / "p.png")]) == 2
    err = capsys.readouterr().err
    assert err == f"scimlx: error: `--plot` {str(locked / 'p.png')!r}: the directory is not writable\n"
    assert main(["data", "generate", "advection_1d", "--out", str(locked / "new" / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert f"the directory cannot be created in {str(locked)!r}, which is not writable" in err
    assert main(["bench", "smoke", "--out", str(locked / "run")]) == 2
    assert "`--out`" in capsys.readouterr().err


def test_a_damaged_cache_file_names_the_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCIMLX_DATA", str(tmp_path))
    argv = ["data", "generate", "burgers_1d", "--n", "2", "--resolution", "32", "--param", "dt=0.01"]
    argv.append("--no-progress")
    assert main(argv) == 0
    capsys.readouterr()
    (path,) = tmp_path.glob("*.npz")
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF
    path.write_bytes(bytes(data))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"scimlx: error: {path} does not match the SHA-256 checksum")
    assert err.count("\n") == 1
    assert err.endswith("delete it or pass `--overwrite`\n") and "regenerate" not in err
    assert main([*argv, "--overwrite"]) == 0


def test_datasets_bench_suite_cases():
    from scimlx.bench import get_suite
    from scimlx.bench._datasets import darcy_vs_scipy, ks_vs_numpy

    names = [c.name for c in get_suite("datasets").cases(True)]
    assert names[: len(recipe_names())] == [f"throughput/{n}" for n in recipe_names()]
    assert names[-3:] == ["darcy_vs_scipy", "navier_stokes_vs_numpy", "ks_vs_numpy"]
    # the comparisons check that both sides computed the same answer
    assert float(darcy_vs_scipy(17, 2)["max rel. difference"]) < 1e-5
    assert float(ks_vs_numpy(20)["max rel. difference"]) < 1e-12
