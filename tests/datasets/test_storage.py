"""The generation loop, `load` with its cache, and the format readers/writers."""

import json
import os
import stat

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.io

import scimlx.datasets as sd
from scimlx.core import Box, Grid
from scimlx.core.validate import check_int, check_number


def _validate(p):
    p = dict(p)
    p["resolution"] = check_int("resolution", p["resolution"], low=4)
    p["nu"] = check_number("nu", p["nu"], low=0, low_open=True)
    p["t"] = check_number("t", p["t"], low=0)
    return p


def _build(p, dtype):
    n = p["resolution"]
    x = jnp.arange(n, dtype=dtype) / n
    k = jnp.arange(1, 4, dtype=dtype)

    def sample(key, index):
        a = jax.random.normal(key, (3,), dtype)
        modes = jnp.sin(2 * jnp.pi * k[:, None] * x)
        u0 = a @ modes
        decay = jnp.exp(-p["nu"] * (2 * jnp.pi * k) ** 2 * p["t"])
        return {"u0": u0, "u": (a * decay) @ modes, "index": index}

    return sample


# The heat equation with an exact solution: enough to exercise every path of the storage layer.
HEAT = sd.Recipe(
    name="heat_test",
    description="1-D heat equation, exact solution (test recipe)",
    params={"resolution": 16, "nu": 0.1, "t": 0.5},
    presets={"paper": {"resolution": 32}},
    validate=_validate,
    build=_build,
    pairs=lambda a, p: (a["u0"][:, None], a["u"][:, None]),
    grid=lambda p: Grid((p["resolution"],), Box(0.0, 1.0), periodic=True),
    resolution_note="grid points (periodic)",
)


def test_generate_is_exact_and_chunk_independent():
    g1 = sd.generate(HEAT, 7, seed=3, chunk_size=2)
    g2 = sd.generate(HEAT, 7, seed=3, chunk_size=7)
    g3 = sd.generate(HEAT, 3, seed=3)
    for k in ("u0", "u"):
        np.testing.assert_array_equal(g1.arrays[k], g2.arrays[k])
        np.testing.assert_array_equal(g1.arrays[k][:3], g3.arrays[k])
    np.testing.assert_array_equal(g1.arrays["index"], np.arange(7))
    assert g1.arrays["u"].shape == (7, 16) and g1.arrays["u"].dtype == np.float32
    # each stored pair is the exact heat solution: mode k decays by exp(-nu (2 pi k)^2 t)
    g64 = sd.generate(HEAT, 7, seed=3, dtype="float64")
    u0, u = g64.arrays["u0"], g64.arrays["u"]
    for k in (1, 2, 3):
        ratio = np.fft.rfft(u, axis=1)[:, k] / np.fft.rfft(u0, axis=1)[:, k]
        np.testing.assert_allclose(ratio, np.exp(-0.1 * (2 * np.pi * k) ** 2 * 0.5), rtol=1e-6)


def test_generate_float64_and_presets():
    g = sd.generate(HEAT, 2, seed=0, dtype="float64", preset="paper")
    assert g.arrays["u"].dtype == np.float64 and g.arrays["u"].shape == (2, 32)
    assert jnp.zeros(1).dtype == jnp.float32  # the 64-bit mode was only switched on for generation


@pytest.mark.parametrize(
    "kwargs, err",
    [
        ({"nu": -1.0}, ValueError),
        ({"bogus": 1}, ValueError),
        ({"resolution": 2}, ValueError),
        ({"resolution": 8.5}, TypeError),
        ({"preset": "huge"}, ValueError),
        ({"dtype": "int32"}, ValueError),
    ],
)
def test_generate_rejects_bad_specs(kwargs, err):
    with pytest.raises(err):
        sd.generate(HEAT, 2, seed=0, **kwargs)


def test_generate_rejects_bad_names_and_seeds():
    with pytest.raises(ValueError, match="unknown data set"):
        sd.generate("no_such_set", 2, seed=0)
    with pytest.raises(ValueError, match="exactly one"):
        sd.generate(HEAT, 2)
    with pytest.raises(ValueError, match="seed"):
        sd.generate(HEAT, 2, seed=-1)
    with pytest.raises(ValueError, match="n"):
        sd.generate(HEAT, 0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        sd.generate(HEAT, 2, seed=2**32)  # would alias seed 0 in a 32-bit key
    with pytest.raises(ValueError, match="seed"):
        sd.load(HEAT, 2, 0, seed=2**40, cache=False)


def test_generate_and_load_share_seeds():
    g = sd.generate(HEAT, 4, seed=9)
    ds = sd.load(HEAT, n_train=4, n_test=2, seed=9, cache=False, progress=False)
    np.testing.assert_array_equal(g.arrays["u"], ds.arrays_train["u"])
    key = jax.random.fold_in(jax.random.key(9), 0)
    np.testing.assert_array_equal(sd.generate(HEAT, 4, key=key).arrays["u"], g.arrays["u"])


def test_missing_sidecar_regenerates_and_partial_chunks_resume(tmp_path, monkeypatch):
    ds = sd.load(HEAT, n_train=6, n_test=2, seed=0, data_dir=tmp_path, progress=False, chunk_size=2)
    path = tmp_path / ds.metadata["path"].split("/")[-1]
    assert not path.with_suffix(".partial").exists()  # cleaned up after a finished write
    path.with_suffix(".json").unlink()  # as if the process died between the two writes
    with pytest.warns(UserWarning, match="no sidecar"):
        again = sd.load(HEAT, n_train=6, n_test=2, seed=0, data_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    assert path.with_suffix(".json").exists()

    # an interrupted run: the third chunk write dies; the rerun reads the first two back
    import scimlx.datasets._recipe as rmod

    other = tmp_path / "other"
    original = rmod.atomic_write
    writes = {"n": 0}

    def flaky_write(p, *chunks):
        writes["n"] += 1
        if writes["n"] == 3:
            raise KeyboardInterrupt
        return original(p, *chunks)

    monkeypatch.setattr(rmod, "atomic_write", flaky_write)
    with pytest.raises(KeyboardInterrupt):
        sd.load(HEAT, n_train=6, n_test=2, seed=0, data_dir=other, progress=False, chunk_size=2)
    partial = list(other.glob("*.partial"))
    assert len(partial) == 1 and len(list(partial[0].glob("chunk*.npz"))) == 2
    monkeypatch.setattr(rmod, "atomic_write", original)
    resumed = sd.load(HEAT, n_train=6, n_test=2, seed=0, data_dir=other, progress=False, chunk_size=2)
    np.testing.assert_array_equal(resumed.x_train, ds.x_train)
    np.testing.assert_array_equal(resumed.y_test, ds.y_test)
    assert not partial[0].exists()


def test_unconverged_solves_warn():
    with pytest.warns(RuntimeWarning, match="did not reach its tolerance for 2 of 2"):
        g = sd.generate("darcy", 2, seed=0, resolution=17, maxiter=3)
    assert not g.arrays["converged"].any() and np.all(g.arrays["iterations"] == 3)


def test_load_caches_and_reuses(tmp_path):
    ds = sd.load(HEAT, n_train=5, n_test=2, seed=1, data_dir=tmp_path, progress=False)
    assert ds.x_train.shape == (5, 1, 16) and ds.y_test.shape == (2, 1, 16)
    assert ds.grid.shape == (16,) and ds.params["nu"] == 0.1
    path = tmp_path / ds.metadata["path"].split("/")[-1]
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["generator"] == "heat_test" and sidecar["seed"] == 1
    assert sidecar["arrays"]["train/u"]["shape"] == [5, 16]
    assert len(sidecar["sha256"]) == 64 and sidecar["scimlx_version"]
    mtime = path.stat().st_mtime_ns
    again = sd.load(HEAT, n_train=5, n_test=2, seed=1, data_dir=tmp_path, progress=False)
    assert path.stat().st_mtime_ns == mtime  # read, not rewritten
    np.testing.assert_array_equal(again.y_train, ds.y_train)
    # a different spec is a different file
    other = sd.load(HEAT, n_train=5, n_test=2, seed=1, data_dir=tmp_path, progress=False, nu=0.2)
    assert other.metadata["path"] != ds.metadata["path"]
    assert len(list(tmp_path.glob("*.npz"))) == 2
    # train samples are a prefix of a larger set; the test set does not depend on n_train
    big = sd.load(HEAT, n_train=8, n_test=2, seed=1, cache=False, progress=False)
    np.testing.assert_array_equal(big.x_train[:5], ds.x_train)
    np.testing.assert_array_equal(big.x_test, ds.x_test)
    assert not np.array_equal(ds.x_test[0], ds.x_train[0])


def test_load_detects_corruption(tmp_path):
    ds = sd.load(HEAT, n_train=3, n_test=1, seed=0, data_dir=tmp_path, progress=False)
    path = tmp_path / ds.metadata["path"].split("/")[-1]
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF  # flip one byte
    path.write_bytes(bytes(data))
    with pytest.raises(sd.CorruptedDataError, match="checksum"):
        sd.load(HEAT, n_train=3, n_test=1, seed=0, data_dir=tmp_path, progress=False)
    path.write_bytes(bytes(data[: len(data) // 2]))  # truncated
    with pytest.raises(sd.CorruptedDataError, match="truncated"):
        sd.load(HEAT, n_train=3, n_test=1, seed=0, data_dir=tmp_path, progress=False)
    fixed = sd.load(HEAT, n_train=3, n_test=1, seed=0, data_dir=tmp_path, progress=False, regenerate=True)
    np.testing.assert_array_equal(fixed.x_train, ds.x_train)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(sd.CorruptedDataError, match="JSON"):
        sd.load(HEAT, n_train=3, n_test=1, seed=0, data_dir=tmp_path, progress=False)


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SCIMLX_DATA", str(tmp_path / "data"))
    assert sd.cache_dir() == tmp_path / "data"
    ds = sd.load(HEAT, n_train=2, n_test=0, seed=0, progress=False)
    assert ds.metadata["path"].startswith(str(tmp_path / "data"))
    assert ds.x_test.shape == (0, 1, 16)


# ------------------------------------------------------------------------------------------------------------
# formats


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    return {"coeff": rng.normal(size=(3, 5, 4)), "sol": rng.normal(size=(3, 5, 4)).astype(np.float32)}


@pytest.mark.parametrize("version", ["5", "7.3"])
def test_mat_round_trip(tmp_path, arrays, version):
    path = sd.write_mat(tmp_path / "d.mat", arrays, version=version)
    back = sd.read_mat(path)
    assert set(back) == {"coeff", "sol"}
    for k, v in arrays.items():
        np.testing.assert_array_equal(back[k], v)
        assert back[k].dtype == v.dtype
    assert sd.read_mat(path, keys=["sol"]).keys() == {"sol"}
    with pytest.raises(KeyError, match="nope"):
        sd.read_mat(path, keys=["nope"])
    with pytest.raises(FileExistsError):
        sd.write_mat(path, arrays, version=version)


def test_mat_v73_matches_matlab_layout(tmp_path, arrays):
    """A v7.3 file stores axes reversed, as MATLAB does, with the MATLAB header in the user block."""
    path = sd.write_mat(tmp_path / "d.mat", arrays, version="7.3")
    assert path.read_bytes()[:10] == b"MATLAB 7.3"
    with h5py.File(path, "r") as f:
        assert f["coeff"].shape == (4, 5, 3)
        assert f["sol"].attrs["MATLAB_class"] == b"single"
    # a file written by scipy (v5) reads back identically to the v7.3 one
    v5 = tmp_path / "v5.mat"
    scipy.io.savemat(v5, arrays)
    np.testing.assert_array_equal(sd.read_mat(v5)["coeff"], sd.read_mat(path)["coeff"])


def test_pdebench_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    tensor = rng.normal(size=(4, 3, 8)).astype(np.float32)
    x, t = (np.arange(8) + 0.5) / 8, np.linspace(0, 2, 3)
    path = sd.write_pdebench(tmp_path / "a.hdf5", tensor, x=x, t=t, attrs={"beta": 0.4})
    back = sd.read_pdebench(path)
    np.testing.assert_array_equal(back["tensor"], tensor)
    np.testing.assert_array_equal(back["x-coordinate"], x)
    np.testing.assert_array_equal(back["t-coordinate"], t)
    assert back["attrs"]["beta"] == 0.4
    darcy = sd.write_pdebench(tmp_path / "d.h5", tensor, nu=tensor[:, 0])
    np.testing.assert_array_equal(sd.read_array_file(darcy)["nu"], tensor[:, 0])


def test_npz_round_trip(tmp_path, arrays):
    for compress in (False, True):
        path = sd.write_npz(tmp_path / f"a{compress}.npz", arrays, compress=compress)
        back = sd.read_array_file(path)
        for k, v in arrays.items():
            np.testing.assert_array_equal(back[k], v)


def test_corrupted_and_wrong_files_raise_clearly(tmp_path, arrays):
    for name, writer in [("a.npz", sd.write_npz), ("b.mat", sd.write_mat)]:
        path = writer(tmp_path / name, arrays)
        path.write_bytes(path.read_bytes()[:100])
        with pytest.raises(ValueError, match=name):
            sd.read_array_file(path)
    h5 = sd.write_pdebench(tmp_path / "c.h5", np.zeros((2, 3)))
    h5.write_bytes(h5.read_bytes()[:600])
    with pytest.raises(ValueError, match="c.h5"):
        sd.read_pdebench(h5)
    text = tmp_path / "d.h5"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not an HDF5"):
        sd.read_pdebench(text)
    with pytest.raises(FileNotFoundError):
        sd.read_mat(tmp_path / "missing.mat")
    other = tmp_path / "e.txt"
    other.write_text("hello")
    with pytest.raises(ValueError, match="must end in"):
        sd.read_array_file(other)


def test_save_arrays(tmp_path, arrays):
    p = sd.save_arrays(tmp_path / "g.npz", arrays, metadata={"generator": "x", "params": {"nu": (0.1, 0.2)}})
    side = json.loads(p.with_name(p.name + ".json").read_text())
    assert side["params"]["nu"] == [0.1, 0.2] and len(side["sha256"]) == 64
    with pytest.raises(FileExistsError):
        sd.save_arrays(p, arrays)
    assert sd.verify_file(p)["params"]["nu"] == [0.1, 0.2]
    for suffix in (".mat", ".h5"):
        q = sd.save_arrays(tmp_path / f"g{suffix}", arrays, metadata={"a": 1})
        np.testing.assert_array_equal(sd.read_array_file(q)["sol"], arrays["sol"])
        assert sd.verify_file(q)["a"] == 1
        data = bytearray(q.read_bytes())
        data[-8] ^= 0x01  # one flipped bit that the format itself may not notice
        q.write_bytes(bytes(data))
        with pytest.raises(sd.CorruptedDataError, match="SHA-256"):
            sd.verify_file(q)
        with pytest.raises(FileExistsError):
            sd.save_arrays(q, arrays)
    with pytest.raises(ValueError, match="must end in"):
        sd.save_arrays(tmp_path / "g.csv", arrays)


def test_readme_data_example_runs(monkeypatch, tmp_path):
    import pathlib

    monkeypatch.setenv("SCIMLX_DATA", str(tmp_path))
    text = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    block = text.split("```python\n")[2].split("```", 1)[0]
    assert "load(" in block
    namespace: dict = {}
    exec(compile(block.replace("print(", "(lambda *a: None)("), "README.md", "exec"), namespace)
    ds = namespace["ds"]
    assert ds.x_train.shape == (64, 1, 33, 33) and ds.y_test.shape == (16, 1, 33, 33)
    assert repr(ds).startswith("PDEDataset('darcy', x_train=(64, 1, 33, 33), y_train=(64, 1, 33, 33)")
    assert len(list(tmp_path.glob("darcy-*.npz"))) == 1


@pytest.mark.slow
def test_plot_samples(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    ds = sd.load(HEAT, n_train=4, n_test=1, seed=0, cache=False, progress=False)
    fig = ds.plot(n=2, path=tmp_path / "heat.png")
    assert len(fig.axes) == 2 and (tmp_path / "heat.png").stat().st_size > 0
    lines = fig.axes[0].get_lines()
    np.testing.assert_array_equal(lines[1].get_ydata(), ds.y_train[0, 0])  # the target curve of sample 0
    d2 = sd.load("darcy", 2, 1, resolution=9, cache=False, progress=False)
    assert len(sd.plot_samples(d2, 5, split="test").axes) == 4  # 1 sample: input, target, 2 colorbars
    with pytest.raises(ValueError, match="split"):
        d2.plot(split="val")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664)], ids=["022", "002"])
def test_written_files_follow_the_umask(tmp_path, arrays, mask, expected):
    """Saved and cached data sets are as readable as any file the user makes (not 0600 from mkstemp)."""
    import scimlx.datasets._recipe as rmod

    def mode(p):
        return stat.S_IMODE(os.stat(p).st_mode)

    chunk_modes = []
    original = rmod.atomic_write

    def recording_write(p, *chunks):
        out = original(p, *chunks)
        chunk_modes.append(mode(out))
        return out

    old = os.umask(mask)
    try:
        written = [sd.save_arrays(tmp_path / f"g{suffix}", arrays) for suffix in (".npz", ".mat", ".h5")]
        rmod.atomic_write = recording_write  # the resumable chunks in `<name>-<digest>.partial/`
        try:
            cache = tmp_path / "cache"
            ds = sd.load(HEAT, n_train=4, n_test=1, seed=0, data_dir=cache, progress=False, chunk_size=2)
        finally:
            rmod.atomic_write = original
    finally:
        os.umask(old)
    cached = tmp_path / "cache" / ds.metadata["path"].split("/")[-1]
    for p in written:
        assert mode(p) == expected and mode(p.with_name(p.name + ".json")) == expected
    assert mode(cached) == expected and mode(cached.with_suffix(".json")) == expected
    assert chunk_modes == [expected] * 3


def test_load_stops_at_a_chunk_on_ctrl_c_and_resumes(tmp_path, monkeypatch):
    """A first Ctrl-C stops generation after the running chunk, keeps the chunks, and says so."""
    import signal

    import scimlx.datasets._recipe as rmod
    from scimlx._interrupt import Interrupted

    reference = sd.load(HEAT, n_train=6, n_test=2, seed=0, cache=False, progress=False, chunk_size=2)
    original = rmod._read_chunk
    calls = {"n": 0}

    def ctrl_c_during_second_chunk(path):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # the handler only sets the flag: the chunk finishes
        return original(path)

    monkeypatch.setattr(rmod, "_read_chunk", ctrl_c_during_second_chunk)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(Interrupted) as info:
        sd.load(HEAT, n_train=6, n_test=2, seed=0, data_dir=tmp_path, progress=False, chunk_size=2)
    message = str(info.value)
    (partial,) = tmp_path.glob("*.partial")
    assert f"after 4 of 8 samples; the 2 finished chunk(s) are kept in {partial}" in message
    assert "again resumes from them" in message
    assert len(list(partial.glob("chunk*.npz"))) == 2 and not list(tmp_path.glob("*.npz"))
    assert signal.getsignal(signal.SIGINT) is handler  # restored

    monkeypatch.setattr(rmod, "_read_chunk", original)
    reused = []
    monkeypatch.setattr(rmod, "_read_chunk", lambda p: reused.append(original(p)) or reused[-1])
    resumed = sd.load(HEAT, n_train=6, n_test=2, seed=0, data_dir=tmp_path, progress=False, chunk_size=2)
    assert sum(r is not None for r in reused) == 2
    np.testing.assert_array_equal(resumed.x_train, reference.x_train)
    np.testing.assert_array_equal(resumed.y_test, reference.y_test)
    assert not partial.exists()

    # without the cache nothing is kept, and the message says so
    calls["n"] = 0
    monkeypatch.setattr(rmod, "_read_chunk", ctrl_c_during_second_chunk)
    with pytest.raises(Interrupted, match="nothing was kept"):
        sd.generate(HEAT, 6, seed=0, chunk_size=2)
