"""The shared argument checks of `scimlx.core.validate`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.core import validate
from scimlx.core.validate import (
    MULTIPLE_RTOL,
    check_bool,
    check_callable,
    check_choice,
    check_dtype,
    check_int,
    check_key,
    check_multiple,
    check_number,
    check_sequence,
    check_shape,
)


def test_check_int():
    assert check_int("n", 3) == 3
    assert type(check_int("n", np.int64(5))) is int
    assert check_int("n", 0, low=0) == 0
    assert check_int("n", -2, low=-3) == -2
    assert check_int("n", None, optional=True) is None
    with pytest.raises(TypeError, match=r"`n` must be an integer >= 1, got True"):
        check_int("n", True)
    with pytest.raises(TypeError, match="`n`"):
        check_int("n", 2.0)
    with pytest.raises(TypeError, match="`n`"):
        check_int("n", None)
    with pytest.raises(ValueError, match=r"`n` must be an integer >= 1, got 0"):
        check_int("n", 0)
    with pytest.raises(ValueError, match=r"`depth` must be an integer >= 2, got 1"):
        check_int("depth", 1, low=2)


def test_check_number():
    assert check_number("x", 2) == 2.0
    assert type(check_number("x", np.float32(0.5))) is float
    assert check_number("nu", 1e-3, low=0, low_open=True) == 1e-3
    assert check_number("p", 0.0, low=0, high=1) == 0.0
    assert check_number("p", 1.0, low=0, high=1) == 1.0
    with pytest.raises(TypeError, match=r"`x` must be a real number, got False"):
        check_number("x", False)
    with pytest.raises(TypeError, match="`x`"):
        check_number("x", "1.0")
    with pytest.raises(TypeError, match="`x`"):
        check_number("x", 1 + 2j)
    with pytest.raises(ValueError, match=r"`nu` must be positive \(> 0\), got 0"):
        check_number("nu", 0.0, low=0, low_open=True)
    with pytest.raises(ValueError, match=r"`sigma` must be non-negative \(>= 0\), got -1"):
        check_number("sigma", -1, low=0)
    with pytest.raises(ValueError, match=r"`tol` must be finite and positive \(> 0\), got nan"):
        check_number("tol", float("nan"), low=0, low_open=True)
    with pytest.raises(ValueError, match=r"`x` must be finite, got inf"):
        check_number("x", float("inf"))
    with pytest.raises(ValueError, match=r"`gamma` must be in \(0, 1\], got 1.5"):
        check_number("gamma", 1.5, low=0, high=1, low_open=True)
    with pytest.raises(ValueError, match=r"`p` must be in \[0, 1\), got 1"):
        check_number("p", 1.0, low=0, high=1, high_open=True)
    with pytest.raises(ValueError, match=r"`r` must be >= 2, got 1.5"):
        check_number("r", 1.5, low=2)
    with pytest.raises(ValueError, match=r"`r` must be < 3, got 3"):
        check_number("r", 3, high=3, high_open=True)


def test_check_bool():
    assert check_bool("dealias", True) is True
    assert check_bool("dealias", np.bool_(False)) is False
    for bad in (1, 0, "yes", None, 1.0):
        with pytest.raises(TypeError, match=r"`dealias` must be a bool, got"):
            check_bool("dealias", bad)


def test_check_choice():
    assert check_choice("scheme", "etdrk4", ("cn_euler", "etdrk4")) == "etdrk4"
    assert check_choice("order", 4, (1, 2, 4)) == 4
    assert check_choice("order", np.int64(2), (1, 2, 4)) == 2
    assert check_choice("flag", True, (True, "auto")) is True
    with pytest.raises(ValueError, match=r"`scheme` must be one of \['cn_euler', 'etdrk4'\], got 'rk4'"):
        check_choice("scheme", "rk4", ("cn_euler", "etdrk4"))
    with pytest.raises(ValueError, match=r"`order` must be one of \[1, 2, 4\], got True"):
        check_choice("order", True, (1, 2, 4))  # a bool is not the number 1
    with pytest.raises(ValueError, match="`order`"):
        check_choice("order", 3, (1, 2, 4))
    with pytest.raises(ValueError, match=r"`preset` must be one of \['fno'\] for 'darcy', got 'x'"):
        check_choice("preset", "x", ["fno"], context="for 'darcy'")
    with pytest.raises(ValueError, match="`name`"):
        check_choice("name", jnp.ones(3), ("a", "b"))  # an array is not one of the names
    with pytest.raises(ValueError, match="`name`"):
        check_choice("name", ["a"], ("a", "b"))


def test_check_callable():
    f = check_callable("fn", jnp.sin)
    assert f is jnp.sin
    assert check_callable("fn", None, optional=True) is None
    with pytest.raises(TypeError, match=r"`fn` must be callable \(a function of one point\), got 3"):
        check_callable("fn", 3, "a function of one point")
    with pytest.raises(TypeError, match=r"`hook` must be callable or None, got 'x'"):
        check_callable("hook", "x", optional=True)
    with pytest.raises(TypeError, match=r"`fn` must be callable, got None"):
        check_callable("fn", None)
    with pytest.raises(TypeError, match=r"`fn` must be callable, got ndarray"):
        check_callable("fn", np.zeros(100))  # a long repr is replaced by the type's name


def test_check_shape():
    x = np.zeros((4, 3))
    assert check_shape("x", x, (4, 3)) is x
    assert check_shape("x", x, (None, 3)) is x
    assert check_shape("x", x, ndim=2) is x
    assert check_shape("x", x, ndim=(2, 3)) is x
    assert check_shape("x", jnp.zeros(5), (5,)).shape == (5,)
    # tracers pass through unchanged
    out = jax.jit(lambda v: check_shape("v", v, (None, 3), ndim=2) * 2)(jnp.ones((2, 3)))
    np.testing.assert_array_equal(np.asarray(out), 2 * np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"`x` must have shape \(\*, 4\), got shape \(4, 3\)"):
        check_shape("x", x, (None, 4))
    with pytest.raises(ValueError, match=r"`x` must have shape \(4, 3, \*\), got shape \(4, 3\)"):
        check_shape("x", x, (4, 3, None))
    with pytest.raises(ValueError, match=r"`x` must have shape \(12,\), got shape \(4, 3\)"):
        check_shape("x", x, (12,))
    with pytest.raises(ValueError, match=r"`x` must have 1 axes, got shape \(4, 3\)"):
        check_shape("x", x, ndim=1)
    with pytest.raises(ValueError, match=r"`x` must have 1 or 3 axes, got shape \(4, 3\)"):
        check_shape("x", x, ndim=(1, 3))
    with pytest.raises(TypeError, match=r"`x` must be an array, got list"):
        check_shape("x", [[0.0] * 3] * 4, (4, 3))


def test_check_multiple():
    assert check_multiple("record_every", 1.0, 1e-4) == 10_000
    assert check_multiple("t_final", 0.3, 0.1) == 3  # 0.3 / 0.1 = 2.9999999999999996
    assert check_multiple("t", 1.0, float(np.float32(0.1))) == 10  # a float32-rounded step
    assert check_multiple("warmup_time", 0.0, 0.25, low=0) == 0
    assert check_multiple("n_steps", 12, 4, "save_every") == 3
    assert type(check_multiple("t", 2.0, 0.5)) is int
    # the tolerance edge: |total / step - n| <= MULTIPLE_RTOL * max(n, 1)
    assert MULTIPLE_RTOL == 1e-6
    assert check_multiple("t", 100 * (1 + 0.9e-6), 1.0) == 100
    with pytest.raises(ValueError, match="`t`"):
        check_multiple("t", 100 * (1 + 1.1e-6), 1.0)
    assert check_multiple("t", 1 + 0.9e-6, 1.0) == 1
    with pytest.raises(ValueError, match="`t`"):
        check_multiple("t", 1 + 1.1e-6, 1.0)
    # messages name both arguments and the ratio
    with pytest.raises(
        ValueError,
        match=r"`record_every` \(1\) must be a positive whole multiple of `dt` \(0.0003\), "
        r"got record_every / dt = 3333.33",
    ):
        check_multiple("record_every", 1.0, 3e-4)
    with pytest.raises(ValueError, match=r"`t_final` \(1\) must be a positive whole multiple of `dt_save`"):
        check_multiple("t_final", 1.0, 3.0, "dt_save")  # rounds to 0 < low
    with pytest.raises(ValueError, match=r"`warmup_time` \(0.1\) must be a whole multiple of `dt` \(0.25\)"):
        check_multiple("warmup_time", 0.1, 0.25, low=0)
    with pytest.raises(ValueError, match=r"`t` \(0\) must be a positive whole multiple"):
        check_multiple("t", 0.0, 0.25)
    # both values are checked as numbers first
    with pytest.raises(TypeError, match="`dt` must be a real number"):
        check_multiple("t", 1.0, True)
    with pytest.raises(TypeError, match="`t` must be a real number"):
        check_multiple("t", "1", 0.1)
    with pytest.raises(ValueError, match=r"`dt_save` must be positive \(> 0\), got 0"):
        check_multiple("t", 1.0, 0.0, "dt_save")
    with pytest.raises(ValueError, match=r"`t` must be non-negative \(>= 0\), got -1"):
        check_multiple("t", -1.0, 0.5)


def test_check_key():
    k = jax.random.key(0)
    assert check_key(k) is k
    raw = check_key(jax.random.PRNGKey(1))
    assert jnp.issubdtype(raw.dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(
        np.asarray(jax.random.key_data(raw)), np.asarray(jax.random.PRNGKey(1))
    )
    with pytest.raises(ValueError, match=r"`key` must be a single PRNG key, got shape \(2,\)"):
        check_key(jax.random.split(k))
    with pytest.raises(TypeError, match="`key` must be a JAX PRNG key"):
        check_key(0)
    with pytest.raises(ValueError, match="`key` is not a valid raw PRNG key"):
        check_key(np.zeros(3, np.uint32))


def test_check_dtype():
    assert check_dtype("dtype", "float32") == np.float32
    assert check_dtype("dtype", jnp.float16) == np.float16
    with pytest.raises(TypeError, match="`dtype` must be a floating dtype"):
        check_dtype("dtype", "int32")
    with pytest.raises(TypeError, match="`dtype` must be a floating dtype"):
        check_dtype("dtype", "not a dtype")
    with jax.enable_x64(False):
        with pytest.raises(ValueError, match="`dtype` is float64 but JAX's 64-bit mode is off"):
            check_dtype("dtype", "float64")
    with jax.enable_x64(True):
        assert check_dtype("dtype", "float64") == np.float64


def test_public_names():
    assert set(validate.__all__) == {
        "MULTIPLE_RTOL", "check_bool", "check_callable", "check_choice", "check_dtype", "check_int",
        "check_key", "check_multiple", "check_number", "check_sequence", "check_shape",
    }  # fmt: skip
    for name in validate.__all__:
        assert getattr(validate, name).__doc__ or name == "MULTIPLE_RTOL"


def test_check_sequence():
    assert check_sequence("axes", [0, 1]) == (0, 1)
    assert check_sequence("axes", (i for i in range(3))) == (0, 1, 2)  # a generator is read once
    for bad in ("xy", b"xy", 3, None):
        with pytest.raises(TypeError, match="`axes` must be a sequence of axis indices"):
            check_sequence("axes", bad, "a sequence of axis indices")
