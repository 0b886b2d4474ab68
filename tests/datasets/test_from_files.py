"""`load_file`: public layouts (FNO .mat, PDEBench HDF5) give the same pairs as generated data."""

import numpy as np
import pytest

import scimlx.datasets as sd


def test_fno_darcy_mat_with_separate_test_file(tmp_path):
    g = sd.generate("darcy", 5, seed=0, resolution=9)
    coeff, sol = g.arrays["coeff"], g.arrays["sol"]
    sd.write_mat(tmp_path / "smooth1.mat", {"coeff": coeff[:3], "sol": sol[:3]})
    sd.write_mat(tmp_path / "smooth2.mat", {"coeff": coeff[3:], "sol": sol[3:]}, version="7.3")
    test_path = tmp_path / "smooth2.mat"
    ds = sd.load_file(tmp_path / "smooth1.mat", "darcy", 3, 2, test_path=test_path, subsample=2)
    assert ds.x_train.shape == (3, 1, 5, 5) and ds.y_test.shape == (2, 1, 5, 5)
    np.testing.assert_array_equal(ds.x_train[:, 0], coeff[:3, ::2, ::2])
    np.testing.assert_array_equal(ds.y_test[:, 0], sol[3:, ::2, ::2])
    assert ds.params["resolution"] == 5 and ds.grid.shape == (5, 5)


def test_fno_navier_stokes_mat_matches_generated_pairs(tmp_path):
    params = dict(resolution=8, n_records=4, t_in=2, t_out=2, dt=0.05, record_every=0.1)
    g = sd.generate("navier_stokes_2d", 4, seed=1, **params)
    u = np.moveaxis(g.arrays["w"], 1, -1)  # FNO stores (N, s, s, T)
    sd.write_mat(tmp_path / "ns.mat", {"a": g.arrays["w0"], "u": u})
    ds = sd.load_file(tmp_path / "ns.mat", "navier_stokes_2d", 3, 1, t_in=2, t_out=2)
    x, y = g.recipe.pairs(g.arrays, g.params)
    np.testing.assert_array_equal(ds.x_train, x[:3])
    np.testing.assert_array_equal(ds.y_test, y[3:])  # the last samples are the test set
    with pytest.raises(ValueError, match="exceeds"):
        sd.load_file(tmp_path / "ns.mat", "navier_stokes_2d", 4, 1)


def test_pdebench_hdf5_and_fno_burgers(tmp_path):
    g = sd.generate("advection_1d", 3, seed=2, resolution=64, t_final=0.1, dt_save=0.02, beta=0.4)
    u = g.arrays["u"]
    x = (np.arange(64) + 0.5) / 64
    t = np.linspace(0, 0.1, u.shape[1])
    path = sd.write_pdebench(tmp_path / "1D_Advection_Sols_beta0.4.hdf5", u, x=x, t=t, attrs={"beta": 0.4})
    ds = sd.load_file(path, "advection_1d", 2, 1, subsample_t=1, t_in=2)
    assert ds.params["beta"] == 0.4 and ds.params["dt_save"] == pytest.approx(0.02)
    np.testing.assert_array_equal(ds.arrays_train["beta"], [0.4, 0.4])
    np.testing.assert_array_equal(ds.x_train, u[:2, :2])
    np.testing.assert_array_equal(ds.y_test, u[2:, 2:])
    half = sd.load_file(path, "advection_1d", 2, 0, subsample=2, subsample_t=5)
    assert half.x_train.shape == (2, 1, 32) and half.y_train.shape == (2, 1, 32)
    b = sd.generate("burgers_1d", 2, seed=0, resolution=64)
    sd.write_mat(tmp_path / "burgers.mat", {"a": b.arrays["u0"], "u": b.arrays["u"]})
    ds = sd.load_file(tmp_path / "burgers.mat", "burgers_1d", 2)
    np.testing.assert_array_equal(ds.y_train[:, 0], b.arrays["u"])


def test_load_file_bad_input(tmp_path):
    sd.write_npz(tmp_path / "x.npz", {"coeff": np.ones((2, 5, 5))})
    with pytest.raises(ValueError, match="none of the arrays"):
        sd.load_file(tmp_path / "x.npz", "darcy", 1)
    with pytest.raises(ValueError, match="`name`"):
        sd.load_file(tmp_path / "x.npz", "poisson_systems", 1)
    with pytest.raises(ValueError, match="subsample"):
        sd.load_file(tmp_path / "x.npz", "darcy", 1, subsample=0)
