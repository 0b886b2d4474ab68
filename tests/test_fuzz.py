"""Property-based checks of the public constructors and loaders (hypothesis).

The contract of DESIGN.md: bad input raises a `ValueError` or `TypeError` whose message names the argument,
before any work starts, and never a JAX tracer error, an `IndexError`/`KeyError`/`AttributeError`/
`ZeroDivisionError` from deep inside, or a silent NaN; good input works.

The examples are cheap on purpose: invalid input must fail in validation (it never reaches JAX), valid models
are built abstractly with `eqx.filter_eval_shape` (traced, not compiled), data generation is replaced by a
sentinel that fails the test if validation lets bad arguments through, and the few real runs (one tiny data
set, one two-step `fit`) are plain tests. Every test is derandomized, so CI sees the same examples each run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
from unittest import mock

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scimlx import datasets
from scimlx.core import Box, Grid, GridField, PointField, validate
from scimlx.core.equations import EQUATIONS, get_equation
from scimlx.datasets import _dataset, _recipe
from scimlx.operators import FNO, LSM, UNet
from scimlx.pinn import PIG, PINN, Dirichlet, InitialValue, Neumann, Periodic, Problem, get_problem
from scimlx.pinn import problem_names as pinn_problem_names
from scimlx.train import RunOptions, fit

_COMMON = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PURE = settings(max_examples=25, **_COMMON)  # pure-Python validation
SOME = settings(max_examples=10, **_COMMON)  # validation that builds a little (problems, data checks)
FEW = settings(max_examples=3, **_COMMON)  # valid models, traced with eval_shape

KEY = jax.random.key(0)


# ---------------------------------------------------------------------------------------------------------
# the property every bad input must have


def raises_named(fn, *names: str, mention: str | None = None) -> Exception:
    """`fn()` must raise a `ValueError`/`TypeError` (not one of JAX's own) whose message names one of `names`
    in backticks (e.g. `` `lo` `` or `` `axes[0]` ``), or contains `mention` verbatim (e.g. the repr of an
    unknown keyword)."""
    with pytest.raises(Exception) as info:
        fn()
    err = info.value
    assert isinstance(err, (ValueError, TypeError)), f"{type(err).__name__} from deep inside: {err}"
    assert not type(err).__module__.startswith("jax"), f"a JAX error escaped: {type(err).__name__}: {err}"
    msg = str(err)
    named = any(f"`{n}" in msg for n in names) or (mention is not None and mention in msg)
    assert named, f"the message does not name {names or mention}: {type(err).__name__}: {msg}"
    return err


# ---------------------------------------------------------------------------------------------------------
# strategies

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-6, max_value=1e6)
negative = st.floats(min_value=-1e6, max_value=-1e-6)
non_finite = st.sampled_from([math.nan, math.inf, -math.inf, np.float32("nan"), np.float64("-inf")])
not_numeric = st.one_of(
    st.text(max_size=4),
    st.none(),
    st.booleans(),
    st.complex_numbers(min_magnitude=1e-3, max_magnitude=1e3, allow_nan=False, allow_infinity=False).filter(
        lambda z: z.imag != 0
    ),
    st.builds(object),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
# anything that is not a Python/NumPy integer (bools and integral floats included)
not_an_int = st.one_of(not_numeric, st.floats(), st.just(np.float32(2.0)))
not_a_bool = st.one_of(
    st.integers(-2, 2), st.text(max_size=3), st.none(), st.floats(allow_nan=False), st.just([True])
)


def bad_int(low: int = 1):
    """Integers below `low` (down to large negatives) and values that are not integers at all."""
    return st.one_of(st.integers(min_value=-(10**9), max_value=low - 1), not_an_int)


def identifier(exclude=()):
    """Keyword names that are not in `exclude`."""
    return st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True).filter(lambda s: s not in exclude)


# =========================================================================================================
# scimlx.core.validate: the helpers everything else uses


@PURE
@given(st.integers(-50, 50), st.one_of(st.integers(-(10**12), 10**12), not_an_int))
def test_check_int(low, value):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low:
        assert validate.check_int("n", value, low=low) == value
    else:
        raises_named(lambda: validate.check_int("n", value, low=low), "n")


@PURE
@given(
    st.one_of(st.floats(allow_nan=True), st.integers(-(10**6), 10**6), not_numeric),
    st.one_of(st.none(), finite),
    st.booleans(),
)
def test_check_number(value, low, low_open):
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = numeric and math.isfinite(value) and (low is None or (value > low if low_open else value >= low))
    if ok:
        assert validate.check_number("x", value, low=low, low_open=low_open) == float(value)
    else:
        raises_named(lambda: validate.check_number("x", value, low=low, low_open=low_open), "x")


@PURE
@given(
    st.one_of(st.text(max_size=6), st.integers(), st.booleans(), st.none(), st.lists(st.text(), max_size=2))
)
def test_check_choice(value):
    choices = ("spectral", "fd", 2)
    if any(type(value) is type(c) and value == c for c in choices):
        assert validate.check_choice("scheme", value, choices) == value
    else:
        raises_named(lambda: validate.check_choice("scheme", value, choices), "scheme")


# =========================================================================================================
# scimlx.core: Box, Grid, PointField, GridField


@PURE
@given(st.lists(st.tuples(finite, positive), min_size=1, max_size=4))
def test_box_good(axes):
    lo = [a for a, _ in axes]
    hi = [a + w for a, w in axes]
    box = Box(lo, hi)
    assert box.ndim == len(axes)
    assert all(length > 0 and math.isfinite(length) for length in box.lengths)
    assert math.isfinite(box.volume) and box.volume > 0


_bad_corner = st.one_of(
    not_numeric,
    st.lists(st.one_of(st.none(), st.text(max_size=2), st.booleans()), min_size=1, max_size=3),
    st.just([[0.0], [1.0, 2.0]]),  # ragged
    st.just([[0.0, 1.0]]),  # not flat
    st.just(np.array(["a", "b"])),
)


@PURE
@given(_bad_corner, st.booleans())
def test_box_bad_kind(value, as_lo):
    lo, hi = (value, 1.0) if as_lo else (0.0, value)
    raises_named(lambda: Box(lo, hi), "lo" if as_lo else "hi")


@PURE
@given(st.integers(1, 4), st.data())
def test_box_bad_values(ndim, data):
    lo = data.draw(st.lists(finite, min_size=ndim, max_size=ndim))
    hi = [v + 1.0 for v in lo]
    axis = data.draw(st.integers(0, ndim - 1))
    kind = data.draw(st.sampled_from(["nan_lo", "nan_hi", "empty", "overflow", "length"]))
    if kind == "nan_lo":
        lo[axis] = data.draw(non_finite)
        raises_named(lambda: Box(lo, hi), "lo")
    elif kind == "nan_hi":
        hi[axis] = data.draw(non_finite)
        raises_named(lambda: Box(lo, hi), "hi")
    elif kind == "empty":
        hi[axis] = lo[axis] - data.draw(st.floats(0.0, 1e6))
        raises_named(lambda: Box(lo, hi), "hi")
    elif kind == "overflow":  # a finite lo and hi whose difference is not finite
        lo[axis], hi[axis] = -1.5e308, data.draw(st.floats(0.5e308, 1.7e308))
        raises_named(lambda: Box(lo, hi), "hi", "lo")
    else:
        raises_named(lambda: Box(lo, hi + [1.0]), "lo", "hi")


_grid_axes = st.lists(st.tuples(st.integers(2, 64), st.booleans()), min_size=1, max_size=4)


@PURE
@given(_grid_axes)
def test_grid_good(axes):
    shape = tuple(n for n, _ in axes)
    periodic = tuple(p for _, p in axes)
    grid = Grid(shape, periodic=periodic)
    assert grid.shape == shape and grid.periodic == periodic and grid.ndim == len(shape)
    assert all(h > 0 and math.isfinite(h) for h in grid.spacing)
    one = Grid(np.int64(shape[0]), periodic=periodic[0])
    assert one.shape == (shape[0],)


@PURE
@given(_grid_axes, st.data())
def test_grid_bad_shape(axes, data):
    shape = [n for n, _ in axes]
    periodic = tuple(p for _, p in axes)
    i = data.draw(st.integers(0, len(shape) - 1))
    shape[i] = data.draw(
        st.one_of(
            st.integers(-(10**6), 0 if periodic[i] else 1),
            st.floats(),
            st.text(max_size=2),
            st.none(),
            st.booleans(),
        )
    )
    raises_named(lambda: Grid(shape, periodic=periodic), "shape")


@PURE
@given(
    _grid_axes,
    st.one_of(st.integers(), st.none(), st.text(max_size=3), st.lists(st.integers(0, 1), min_size=1)),
)
def test_grid_bad_periodic(axes, periodic):
    shape = tuple(n for n, _ in axes)
    raises_named(lambda: Grid(shape, periodic=periodic), "periodic")


@PURE
@given(_grid_axes, st.integers(0, 5))
def test_grid_bad_periodic_length_and_box(axes, extra):
    shape = tuple(n for n, _ in axes)
    wrong = (True,) * (len(shape) + extra + 1)
    raises_named(lambda: Grid(shape, periodic=wrong), "periodic")
    raises_named(lambda: Grid(shape, box=Box.unit(len(shape) + extra + 1)), "box")
    raises_named(lambda: Grid(shape, box=(0.0, 1.0)), "box")


_bad_point = st.one_of(
    st.text(min_size=1, max_size=3),
    st.builds(object),
    st.just(np.zeros(2, complex)),
    st.just(np.zeros((2, 2))),
    st.just(np.zeros(0)),
    st.just([["a"]]),
)


@PURE
@given(st.integers(1, 4), st.booleans())
def test_point_field_good(d, time):
    x = np.linspace(0.0, 1.0, d + int(time), dtype=np.float32)
    field = PointField(lambda z: jnp.sum(z), x, time=time)
    assert field.ndim == d and field.time is time


@PURE
@given(_bad_point, st.one_of(not_a_bool, st.booleans()), st.sampled_from(["x", "time", "fn"]))
def test_point_field_bad(x, time, which):
    good = np.zeros(3, np.float32)
    if which == "x":
        raises_named(lambda: PointField(jnp.sum, x), "x")
    elif which == "time" and not isinstance(time, bool):
        raises_named(lambda: PointField(jnp.sum, good, time=time), "time")
    else:
        raises_named(lambda: PointField(x, good), "fn")


@PURE
@given(_grid_axes.filter(lambda a: len(a) <= 3), st.integers(0, 2), st.sampled_from([2, 4]), st.booleans())
def test_grid_field_good(axes, components, fd_order, time):
    shape = tuple(n for n, _ in axes)
    time = time and len(shape) >= 2
    grid = Grid(shape, periodic=tuple(p for _, p in axes))
    lead = (3,) * components
    field = GridField(np.zeros(lead + shape, np.float32), grid, time=time, fd_order=fd_order)
    assert field.components == lead and field.fd_order == fd_order and field.ndim == len(shape) - int(time)


@PURE
@given(
    st.one_of(
        st.integers(-3, 8).filter(lambda k: k not in (2, 4)),
        st.floats(),
        not_numeric,
        st.just(np.array([2, 4])),
        st.just(2.0),
    ),
    st.sampled_from(["fd_order", "u_shape", "u_kind", "time", "grid"]),
    st.data(),
)
def test_grid_field_bad(value, which, data):
    grid = Grid((5, 6))
    u = np.zeros((5, 6), np.float32)
    if which == "fd_order":
        raises_named(lambda: GridField(u, grid, fd_order=value), "fd_order")
    elif which == "u_shape":
        shape = data.draw(
            st.lists(st.integers(1, 7), min_size=0, max_size=3).filter(lambda s: s[-2:] != [5, 6])
        )
        raises_named(lambda: GridField(np.zeros(shape, np.float32), grid), "u")
    elif which == "u_kind":
        bad = data.draw(st.sampled_from([u.astype(int), u.astype(bool), u.astype(complex), "abc", object()]))
        raises_named(lambda: GridField(bad, grid), "u")
    elif which == "time":
        bad = data.draw(not_a_bool)
        raises_named(lambda: GridField(u, grid, time=bad), "time")
    else:
        raises_named(lambda: GridField(u, data.draw(st.sampled_from([(5, 6), None, Box.unit(2)]))), "grid")


# =========================================================================================================
# scimlx.core.equations: every catalogue equation's parameters

_NONNEGATIVE = {
    ("helmholtz", "k"),
    ("heat", "diffusivity"),
    ("burgers", "viscosity"),
    ("allen_cahn", "diffusivity"),
    ("nonlinear_diffusion", "alpha"),
    ("navier_stokes_2d_vorticity", "viscosity"),
    ("kuramoto_sivashinsky", "hyperdiffusion"),
    ("fokker_planck", "sigma"),
    ("drift_diffusion", "diffusivity"),
}
_POSITIVE = {("klein_gordon", "wave_speed"), ("darcy", "coefficient")}
_SPECIAL = {
    ("burgers", "form"),
    ("klein_gordon", "power"),
    ("fokker_planck", "drift"),
    ("fokker_planck", "n_probes"),
    ("drift_diffusion", "drift"),
}
_COEFFICIENTS = sorted(
    (name, f.name)
    for name, cls in EQUATIONS.items()
    for f in dataclasses.fields(cls)
    if (name, f.name) not in _SPECIAL
)


def test_equation_parameters_are_classified():
    """Every parameter of every catalogue equation is a numeric coefficient or one of the special ones, so a
    new parameter is fuzzed as soon as it is added."""
    for name, param in _COEFFICIENTS:
        default = next(f.default for f in dataclasses.fields(EQUATIONS[name]) if f.name == param)
        assert isinstance(default, (int, float)), (name, param, default)
    assert {p for p in _NONNEGATIVE | _POSITIVE} <= set(_COEFFICIENTS)


@PURE
@given(st.sampled_from(_COEFFICIENTS), st.one_of(finite, st.integers(-100, 100)), st.booleans())
def test_equation_good(param, value, as_array):
    name, field = param
    if param in _NONNEGATIVE:
        value = abs(value)
    if param in _POSITIVE:
        value = abs(value) + 1e-3
    v = np.asarray(value, np.float32) if as_array else value
    eq = EQUATIONS[name](**{field: v})
    assert np.asarray(getattr(eq, field)) == np.asarray(v)
    assert get_equation(name, **{field: v}).name == name


@PURE
@given(st.sampled_from(_COEFFICIENTS), st.data())
def test_equation_bad_coefficient(param, data):
    name, field = param
    kinds = ["kind", "non_finite", "array_nan"]
    if param in _NONNEGATIVE | _POSITIVE:
        kinds.append("sign")
    kind = data.draw(st.sampled_from(kinds))
    if kind == "kind":
        value = data.draw(st.one_of(not_numeric, st.just([1.0, "a"]), st.just(np.array(["a"]))))
    elif kind == "non_finite":
        value = data.draw(non_finite)
    elif kind == "array_nan":
        value = np.array([1.0, data.draw(non_finite)])
    else:
        value = data.draw(negative if param in _NONNEGATIVE else st.one_of(negative, st.just(0.0)))
    raises_named(lambda: EQUATIONS[name](**{field: value}), field)


@PURE
@given(st.sampled_from(["form", "power", "drift", "n_probes"]), st.data())
def test_equation_bad_special(which, data):
    if which == "form":
        value = data.draw(st.one_of(st.text(max_size=8), st.none(), st.just(np.array(["a", "b"]))))
        raises_named(lambda: EQUATIONS["burgers"](form=value), "form")
    elif which == "power":
        raises_named(lambda: EQUATIONS["klein_gordon"](power=data.draw(bad_int(1))), "power")
    elif which == "drift":
        name = data.draw(st.sampled_from(["fokker_planck", "drift_diffusion"]))
        raises_named(lambda: EQUATIONS[name](drift=data.draw(not_numeric)), "drift")
    else:
        value = data.draw(bad_int(1).filter(lambda v: v is not None))
        raises_named(lambda: EQUATIONS["fokker_planck"](n_probes=value), "n_probes")


@PURE
@given(st.one_of(identifier(EQUATIONS), st.integers(), st.none(), st.lists(st.text(), max_size=1)), st.data())
def test_get_equation_bad(name, data):
    raises_named(lambda: get_equation(name), "name")
    known = data.draw(st.sampled_from(sorted(EQUATIONS)))
    fields = {f.name for f in dataclasses.fields(EQUATIONS[known])}
    extra = data.draw(identifier(fields))
    raises_named(lambda: get_equation(known, **{extra: 1.0}), mention=repr(extra))


# =========================================================================================================
# scimlx.datasets: load / generate / get_recipe (argument checks only: generation is replaced by a sentinel)


class _Reached(Exception):
    """Raised instead of generating: the arguments got through validation."""


@contextlib.contextmanager
def _no_generation():
    def refuse(*args, **kwargs):
        raise _Reached("the arguments got through validation to the generator")

    with (
        mock.patch.object(_dataset, "_generate_parts", refuse),
        mock.patch.object(_recipe, "_generate_parts", refuse),
    ):
        yield


RECIPES = datasets.recipe_names()


@SOME
@given(
    st.sampled_from(RECIPES),
    st.integers(1, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["float32", np.float32, jnp.float32]),
)
def test_load_good_arguments_reach_generation(name, n_train, n_test, seed, dtype):
    with _no_generation(), pytest.raises(_Reached):
        datasets.load(name, n_train, n_test, seed=seed, dtype=dtype, cache=False, progress=False)
    with _no_generation(), pytest.raises(_Reached):
        datasets.generate(name, n_train, seed=seed, dtype=dtype)


@pytest.mark.parametrize("name", RECIPES)
def test_load_presets_reach_generation(name):
    for preset in datasets.get_recipe(name).presets:
        with _no_generation(), pytest.raises(_Reached):
            datasets.load(name, 1, 0, preset=preset, cache=False, progress=False)


_LOAD_BAD = {
    "n_train": bad_int(1),
    "n_test": bad_int(0),
    "resolution": st.one_of(st.integers(-(10**6), 2), not_an_int.filter(lambda v: v is not None)),
    "seed": st.one_of(bad_int(0), st.integers(2**32, 2**70)),
    "preset": st.one_of(identifier(), st.integers(), st.lists(st.text(), max_size=1)),
    "chunk_size": bad_int(1).filter(lambda v: v is not None),
}


@SOME
@given(st.sampled_from(RECIPES), st.sampled_from(sorted(_LOAD_BAD)), st.data())
def test_load_bad_arguments(name, arg, data):
    value = data.draw(_LOAD_BAD[arg])
    if arg == "preset":
        assume(not isinstance(value, str) or value not in datasets.get_recipe(name).presets)
    kwargs = {"n_train": 2, "n_test": 1, arg: value}
    with _no_generation():
        raises_named(lambda: datasets.load(name, cache=False, progress=False, **kwargs), arg)


@SOME
@given(st.sampled_from(RECIPES), st.data())
def test_load_unknown_and_bad_recipe_parameters(name, data):
    recipe = datasets.get_recipe(name)
    extra = data.draw(identifier(set(recipe.params) | set(inspect.signature(datasets.load).parameters)))
    with _no_generation():
        raises_named(lambda: datasets.load(name, 2, 1, cache=False, **{extra: 1}), mention=repr(extra))
        # a number where a recipe takes one: a non-finite value or a non-number never gets through
        numeric = sorted(
            k for k, v in recipe.params.items() if isinstance(v, float) and not isinstance(v, bool)
        )
        if numeric:
            param = data.draw(st.sampled_from(numeric))
            bad = data.draw(st.one_of(non_finite, st.text(max_size=3), st.builds(object)))
            raises_named(lambda: datasets.load(name, 2, 1, cache=False, **{param: bad}), param)


@SOME
@given(
    st.sampled_from(RECIPES),
    st.sampled_from(["n", "seed", "key", "both", "neither", "chunk_size", "preset"]),
    st.data(),
)
def test_generate_bad_arguments(name, which, data):
    with _no_generation():
        if which == "n":
            raises_named(lambda: datasets.generate(name, data.draw(bad_int(1)), seed=0), "n")
        elif which == "seed":
            bad = data.draw(st.one_of(bad_int(0).filter(lambda v: v is not None), st.integers(2**32, 2**70)))
            raises_named(lambda: datasets.generate(name, 1, seed=bad), "seed")
        elif which == "key":
            bad = data.draw(st.one_of(st.integers(), st.text(max_size=2), st.just(jax.random.split(KEY, 2))))
            raises_named(lambda: datasets.generate(name, 1, key=bad), "key")
        elif which == "both":
            raises_named(lambda: datasets.generate(name, 1, seed=0, key=KEY), "seed", "key")
        elif which == "neither":
            raises_named(lambda: datasets.generate(name, 1), "seed", "key")
        elif which == "chunk_size":
            bad = data.draw(bad_int(1).filter(lambda v: v is not None))
            raises_named(lambda: datasets.generate(name, 1, seed=0, chunk_size=bad), "chunk_size")
        else:
            bad = data.draw(identifier(datasets.get_recipe(name).presets))
            raises_named(lambda: datasets.generate(name, 1, seed=0, preset=bad), "preset")


@PURE
@given(st.one_of(st.integers(), st.none(), st.lists(st.text(), max_size=1), st.builds(object), st.binary()))
def test_get_recipe_bad_kind(name):
    raises_named(lambda: datasets.get_recipe(name), "name")


def test_get_recipe_unknown_name_names_the_argument():
    for call in (
        lambda: datasets.get_recipe("no_such_set"),
        lambda: datasets.load("no_such_set", cache=False),
        lambda: datasets.generate("no_such_set", 1, seed=0),
    ):
        raises_named(call, "name")


@pytest.mark.parametrize("dtype", ["foo", [1], object()])
def test_load_bad_dtype_names_the_argument(dtype):
    with _no_generation():
        raises_named(lambda: datasets.load("darcy", 2, 1, dtype=dtype, cache=False), "dtype")
        raises_named(lambda: datasets.generate("darcy", 1, seed=0, dtype=dtype), "dtype")


@pytest.mark.parametrize("flag", ["cache", "regenerate", "progress"])
def test_load_flags_must_be_bools(flag, tmp_path):
    with _no_generation():
        raises_named(lambda: datasets.load("darcy", 2, 1, data_dir=tmp_path, **{flag: "no"}), flag)


def test_generate_progress_must_be_a_bool():
    with _no_generation():
        raises_named(lambda: datasets.generate("darcy", 1, seed=0, progress="no"), "progress")


@pytest.mark.parametrize("data_dir", [3, ["a"]])
def test_load_bad_data_dir_names_the_argument(data_dir):
    with _no_generation():
        raises_named(lambda: datasets.load("darcy", 2, 1, data_dir=data_dir), "data_dir")


def test_load_tiny_set_works():
    ds = datasets.load("burgers_1d", n_train=1, n_test=1, resolution=16, seed=0, cache=False, progress=False)
    assert ds.x_train.shape == (1, 1, 16) and ds.y_test.shape == (1, 1, 16)
    assert np.all(np.isfinite(ds.x_train)) and np.all(np.isfinite(ds.y_train))


# =========================================================================================================
# scimlx.pinn: get_problem, the conditions, Problem, PINN and PIG

_COUNTS = {  # problem -> its integer parameters and their lower bounds
    "helmholtz_2d": {"n_collocation": 1, "n_boundary": 1, "test_resolution": 2},
    "klein_gordon_2p1d": {"n_collocation": 1, "n_initial": 1, "n_boundary": 1, "test_resolution": 2},
    "flow_mixing_2p1d": {"n_collocation": 1, "n_initial": 1, "n_boundary": 1, "test_resolution": 2},
    "nonlinear_diffusion_2p1d": {
        "n_collocation": 1,
        "n_initial": 1,
        "n_boundary": 1,
        "reference_resolution": 5,
        "test_resolution": 2,
        "test_times": 2,
    },
    "allen_cahn_1d": {"n_collocation": 1, "n_initial": 1, "n_periodic": 1, "test_x": 2, "test_t": 2},
    "peak_2d": {"n_collocation": 1, "n_boundary": 1, "test_resolution": 2},
    "two_peak_2d": {"n_collocation": 1, "n_boundary": 1, "test_resolution": 2},
    "exponential_nd": {"d": 1, "n_collocation": 1, "n_boundary": 1, "n_test": 2},
}
_REALS = {  # problem -> its real parameters and whether they must be >= 0
    "helmholtz_2d": {"a1": False, "a2": False, "k": True, "residual_weight": True},
    "klein_gordon_2p1d": {"k": False},
    "flow_mixing_2p1d": {"residual_weight": True},
    "nonlinear_diffusion_2p1d": {"alpha": True},
    "allen_cahn_1d": {},
    "peak_2d": {"a": True},
    "two_peak_2d": {"a": True},
    "exponential_nd": {"a": True},
}
PROBLEMS = pinn_problem_names()


def test_problem_tables_cover_the_registry():
    assert set(_COUNTS) == set(PROBLEMS) == set(_REALS)


@SOME
@given(st.sampled_from(PROBLEMS), st.data())
def test_get_problem_good(name, data):
    counts = {k: data.draw(st.integers(low, 64)) for k, low in _COUNTS[name].items()}
    if name == "nonlinear_diffusion_2p1d":
        counts["test_resolution"] = min(counts["test_resolution"], counts["reference_resolution"])
    reals = {
        k: abs(data.draw(st.floats(-20, 20))) if nonneg else data.draw(st.floats(-20, 20))
        for k, nonneg in _REALS[name].items()
    }
    problem = get_problem(name, "quick", **counts, **reals)
    assert problem.n_collocation == counts["n_collocation"]
    assert problem.name == name


@SOME
@given(st.sampled_from(PROBLEMS), st.sampled_from(["name", "preset", "unknown", "count", "real"]), st.data())
def test_get_problem_bad(name, which, data):
    if which == "name":
        bad = data.draw(st.one_of(identifier(PROBLEMS), st.integers(), st.none()))
        raises_named(lambda: get_problem(bad), "name")
    elif which == "preset":
        bad = data.draw(
            st.one_of(identifier(("paper", "quick")), st.integers(), st.none(), st.just(["quick"]))
        )
        raises_named(lambda: get_problem(name, bad), "preset")
    elif which == "unknown":
        extra = "zz_" + data.draw(identifier())
        raises_named(lambda: get_problem(name, "quick", **{extra: 1}), mention=repr(extra))
    elif which == "count":
        param, low = data.draw(st.sampled_from(sorted(_COUNTS[name].items())))
        bad = data.draw(bad_int(low).filter(lambda v: v is not None))
        raises_named(lambda: get_problem(name, "quick", **{param: bad}), param)
    elif _REALS[name]:
        param, nonneg = data.draw(st.sampled_from(sorted(_REALS[name].items())))
        bad = data.draw(
            st.one_of(non_finite, st.text(max_size=2), st.booleans(), *([negative] if nonneg else []))
        )
        raises_named(lambda: get_problem(name, "quick", **{param: bad}), param)


@PURE
@given(
    st.sampled_from(
        [("helmholtz_2d", "a1"), ("helmholtz_2d", "a2"), ("helmholtz_2d", "k"), ("klein_gordon_2p1d", "k")]
    ),
    st.floats(1e19, 1e300),
    st.booleans(),
)
def test_get_problem_coefficients_whose_square_overflows(case, value, sign):
    """A coefficient so large that the source term overflows would make every loss NaN: refused."""
    name, param = case
    raises_named(lambda: get_problem(name, "quick", **{param: -value if sign else value}), param)


@PURE
@given(st.one_of(not_a_bool, st.just("no")).filter(lambda v: v is not None))  # None: the preset's value
def test_klein_gordon_initial_velocity_must_be_a_bool(value):
    raises_named(
        lambda: get_problem("klein_gordon_2p1d", "quick", initial_velocity=value), "initial_velocity"
    )


_CONDITIONS = [Dirichlet, Neumann, InitialValue]


@PURE
@given(st.sampled_from(_CONDITIONS), st.sampled_from(["value", "n", "weight"]), st.data())
def test_condition_bad(cls, which, data):
    if which == "value":
        bad = data.draw(st.one_of(non_finite, st.text(max_size=2), st.none(), st.booleans()))
        raises_named(lambda: cls(bad), "value")
    elif which == "n":
        raises_named(lambda: cls(0.0, n=data.draw(bad_int(1))), "n")
    else:
        bad = data.draw(st.one_of(non_finite, negative, st.text(max_size=2), st.none()))
        raises_named(lambda: cls(0.0, weight=bad), "weight")


@PURE
@given(st.sampled_from([Dirichlet, Neumann]), st.data())
def test_face_condition_axes(cls, data):
    good = data.draw(
        st.one_of(st.none(), st.integers(0, 1), st.lists(st.integers(0, 1), min_size=1, max_size=2))
    )
    cond = cls(0.0, axes=good)
    assert cond.axes is None or isinstance(cond.axes, tuple)
    box = Box((0.0, 0.0), (1.0, 1.0))
    Problem("p", get_equation("poisson"), box, [cond], exact=lambda z: z[0], test_shape=4)
    bad = data.draw(
        st.one_of(
            st.integers(-5, -1),
            st.text(max_size=2),
            st.floats(),
            st.just([]),
            st.lists(st.one_of(st.integers(-3, -1), st.floats(), st.text()), min_size=1),
        )
    )
    raises_named(lambda: cls(0.0, axes=bad), "axes")
    beyond = cls(0.0, axes=(data.draw(st.integers(2, 9)),))  # valid on its own, not on a 2-D domain
    raises_named(
        lambda: Problem("p", get_equation("poisson"), box, [beyond], exact=lambda z: z[0], test_shape=4),
        "axes",
    )


@PURE
@given(st.sampled_from(["axis", "derivatives", "beyond"]), st.data())
def test_periodic_condition_bad(which, data):
    if which == "axis":
        raises_named(lambda: Periodic(axis=data.draw(bad_int(0).filter(lambda v: v is not None))), "axis")
    elif which == "derivatives":
        raises_named(lambda: Periodic(derivatives=data.draw(bad_int(0))), "derivatives")
    else:
        box = Box((0.0, 0.0), (1.0, 1.0))
        cond = Periodic(axis=data.draw(st.integers(1, 9)))
        raises_named(
            lambda: Problem("p", get_equation("heat"), box, [cond], exact=lambda z: z[0], test_shape=4),
            "axis",
        )


@PURE
@given(
    st.sampled_from(["name", "equation", "box", "conditions", "test_shape", "weights", "initial"]), st.data()
)
def test_problem_bad(which, data):
    box = Box((0.0, 0.0), (1.0, 1.0))
    eq = get_equation("poisson")
    exact = lambda z: z[0]  # noqa: E731
    kw = dict(exact=exact, test_shape=4)
    if which == "name":
        bad = data.draw(st.one_of(st.just(""), st.integers(), st.none()))
        raises_named(lambda: Problem(bad, eq, box, **kw), "name")
    elif which == "equation":
        raises_named(lambda: Problem("p", data.draw(not_numeric), box, **kw), "equation")
    elif which == "box":
        raises_named(lambda: Problem("p", eq, data.draw(not_numeric), **kw), "box")
        # a time-dependent equation needs a spatial axis besides time
        raises_named(lambda: Problem("p", get_equation("heat"), Box(0.0, 1.0), **kw), "box")
    elif which == "conditions":
        bad = data.draw(
            st.one_of(
                st.integers(),
                st.builds(object),
                st.text(min_size=1, max_size=2),
                st.lists(st.integers(), min_size=1, max_size=2),
            )
        )
        raises_named(lambda: Problem("p", eq, box, bad, **kw), "conditions")
    elif which == "test_shape":
        bad = data.draw(
            st.one_of(
                st.integers(-3, 1),
                st.floats(),
                st.text(min_size=1, max_size=2),
                st.lists(st.integers(2, 5), min_size=3, max_size=4),
            )
        )
        raises_named(lambda: Problem("p", eq, box, exact=exact, test_shape=bad), "test_shape")
    elif which == "weights":
        arg = data.draw(st.sampled_from(["residual_weight", "n_collocation"]))
        bad = data.draw(
            st.one_of(non_finite, negative, st.text(max_size=2)) if arg == "residual_weight" else bad_int(1)
        )
        raises_named(lambda: Problem("p", eq, box, **kw, **{arg: bad}), arg)
    else:  # an initial condition on a steady problem
        raises_named(lambda: Problem("p", eq, box, [InitialValue(0.0)], **kw), "conditions")


_PINN_BAD = {
    "in_size": bad_int(1),
    "width": bad_int(1),
    "depth": bad_int(1),
    "fourier_features": bad_int(2).filter(lambda v: v is not None),
    "fourier_scale": st.one_of(non_finite, negative, st.just(0.0), st.text(max_size=2)),
    "activation": not_numeric,
    "box": st.one_of(st.just(Box.unit(3)), st.text(min_size=1, max_size=2), st.integers()),
    "dtype": st.sampled_from(["foo", "int32", jnp.int32, "float64", "complex64", object()]),
    "key": st.one_of(
        st.integers(), st.none(), st.just(jax.random.split(KEY, 2)), st.just(np.zeros(3, np.float32))
    ),
}
_PIG_BAD = {
    "in_size": bad_int(1),
    "n_gaussians": bad_int(1),
    "channels": bad_int(1),
    "grid_range": st.one_of(non_finite, negative, st.just(0.0), st.none()),
    "sigma_init": st.one_of(non_finite, negative, st.just(0.0), st.text(max_size=2)),
    "hidden": bad_int(1).filter(lambda v: v is not None),
    "full_covariance": not_a_bool,
    "learn_means": not_a_bool,
    "box": st.one_of(st.just(Box.unit(3)), st.text(min_size=1, max_size=2)),
    "dtype": st.sampled_from(["foo", "int32", "float64", object()]),
    "key": st.one_of(st.integers(), st.none()),
}


@PURE
@given(st.sampled_from(sorted(_PINN_BAD)), st.data())
def test_pinn_bad(arg, data):
    kw = {"in_size": 2, "width": 4, "depth": 1, "key": KEY, arg: data.draw(_PINN_BAD[arg])}
    raises_named(lambda: PINN(**kw), arg)


@PURE
@given(st.sampled_from(sorted(_PIG_BAD)), st.data())
def test_pig_bad(arg, data):
    kw = {"in_size": 2, "n_gaussians": 3, "key": KEY, arg: data.draw(_PIG_BAD[arg])}
    raises_named(lambda: PIG(**kw), arg)
    raises_named(lambda: PIG(4, 3, full_covariance=True, key=KEY), "full_covariance")


@FEW
@given(st.integers(1, 3), st.integers(1, 8), st.integers(1, 3), st.one_of(st.none(), st.integers(2, 6)))
def test_pinn_good(in_size, width, depth, fourier):
    box = Box.unit(in_size)
    model = eqx.filter_eval_shape(PINN, in_size, width, depth, box=box, fourier_features=fourier, key=KEY)
    assert len(model.layers) == depth + 1 and model.layers[-1].out_features == 1


@FEW
@given(
    st.integers(1, 3),
    st.integers(1, 6),
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 8)),
    st.booleans(),
    st.booleans(),
)
def test_pig_good(in_size, n_gaussians, channels, hidden, full, learn):
    full = full and in_size in (2, 3)
    model = eqx.filter_eval_shape(
        PIG,
        in_size,
        n_gaussians,
        channels=channels,
        hidden=hidden,
        full_covariance=full,
        learn_means=learn,
        key=KEY,
    )
    assert model.means.shape == (channels, n_gaussians, in_size) and model.learn_means is learn


# =========================================================================================================
# scimlx.operators: FNO, UNet, LSM (construction only)

_OPERATOR_BAD = {
    "in_channels": bad_int(1),
    "out_channels": bad_int(1),
    "ndim": st.one_of(st.integers(-3, 0), st.integers(4, 9), st.floats(), st.text(max_size=2), st.none()),
    "width": bad_int(1),
    "key": st.one_of(st.integers(), st.none(), st.text(max_size=2), st.just(jax.random.split(KEY, 3))),
}
_FNO_BAD = {
    **_OPERATOR_BAD,
    "modes": st.one_of(
        st.integers(-5, 0),
        st.lists(st.integers(1, 4), min_size=3, max_size=4),
        st.lists(st.integers(-3, 0), min_size=2, max_size=2),
        st.text(max_size=2),
        st.floats(),
    ),
    "n_layers": bad_int(1),
    "padding": st.one_of(
        st.integers(-9, -1),
        st.lists(st.integers(0, 3), min_size=1, max_size=1),
        st.lists(st.integers(-3, -1), min_size=2, max_size=2),
    ),
    "projection": bad_int(1),
    "append_grid": not_a_bool,
    "activation": not_numeric,
}
_UNET_BAD = {**_OPERATOR_BAD, "depth": bad_int(1), "append_grid": not_a_bool, "activation": not_numeric}
_LSM_BAD = {
    **_OPERATOR_BAD,
    "num_token": bad_int(1),
    "num_basis": bad_int(1),
    "n_heads": bad_int(1),
    "patch": st.one_of(
        st.integers(-3, 0), st.lists(st.integers(1, 3), min_size=3, max_size=3), st.text(min_size=1)
    ),
    "padding": st.one_of(st.integers(-3, -1), st.lists(st.integers(0, 3), min_size=1, max_size=1)),
}


@PURE
@given(st.sampled_from([(FNO, _FNO_BAD), (UNet, _UNET_BAD), (LSM, _LSM_BAD)]), st.data())
def test_operator_bad(case, data):
    cls, table = case
    arg = data.draw(st.sampled_from(sorted(table)))
    value = data.draw(table[arg])
    kw = {"in_channels": 1, "out_channels": 1, "ndim": 2, "width": 8, "key": KEY, arg: value}
    raises_named(lambda: cls(**kw), arg)


@PURE
@given(st.integers(1, 16), st.integers(2, 8))
def test_lsm_width_must_split_over_heads(width, n_heads):
    if width % n_heads:
        raises_named(lambda: LSM(1, 1, width=width, n_heads=n_heads, key=KEY), "width", "n_heads")


@FEW
@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 3),
    st.booleans(),
)
def test_fno_good(c_in, c_out, ndim, modes, n_layers, padding, append_grid):
    model = eqx.filter_eval_shape(
        FNO,
        c_in,
        c_out,
        ndim=ndim,
        modes=modes,
        width=4,
        n_layers=n_layers,
        padding=padding,
        projection=4,
        append_grid=append_grid,
        key=KEY,
    )
    assert model.modes == (modes,) * ndim and model.padding == (padding,) * ndim
    assert len(model.spectral_convs) == n_layers


@FEW
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.booleans())
def test_unet_good(c_in, c_out, ndim, depth, append_grid):
    model, state = eqx.filter_eval_shape(
        eqx.nn.make_with_state(UNet),
        c_in,
        c_out,
        ndim=ndim,
        width=2,
        depth=depth,
        append_grid=append_grid,
        key=KEY,
    )
    assert len(model.encoders) == depth and model.ndim == ndim


@FEW
@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from([(4, 2), (8, 4), (6, 3)]))
def test_lsm_good(ndim, c_out, width_heads):
    width, n_heads = width_heads
    model = eqx.filter_eval_shape(
        LSM, 1, c_out, ndim=ndim, width=width, n_heads=n_heads, num_token=2, num_basis=2, key=KEY
    )
    assert model.width == width and model.ndim == ndim


# =========================================================================================================
# scimlx.train: RunOptions and fit

_RUN_INTS = ["steps", "epochs", "batch_size", "eval_every"]


@PURE
@given(
    st.sampled_from(["steps", "epochs"]),
    st.integers(1, 10**6),
    st.one_of(st.none(), st.integers(1, 4096)),
    st.booleans(),
    st.one_of(st.none(), st.integers(1, len(jax.devices())), st.just(list(jax.devices()))),
)
def test_run_options_good(length, n, batch_size, progress, devices):
    run = RunOptions(**{length: n}, batch_size=batch_size, progress=progress, devices=devices)
    assert getattr(run, length) == n
    assert run.with_defaults(steps=5, epochs=7, batch_size=3) == dataclasses.replace(
        run, batch_size=batch_size or 3
    )


@PURE
@given(
    st.sampled_from(
        _RUN_INTS
        + ["checkpoint_every", "resume", "overwrite", "progress", "devices", "checkpoint_dir", "mesh"]
    ),
    st.data(),
)
def test_run_options_bad(arg, data):
    if arg in _RUN_INTS:
        value = data.draw(bad_int(1).filter(lambda v: v is not None))
        raises_named(lambda: RunOptions(**{arg: value}), arg)
    elif arg == "checkpoint_every":
        value = data.draw(bad_int(1).filter(lambda v: v is not None))
        raises_named(lambda: RunOptions(checkpoint_dir="ckpt", checkpoint_every=value), arg)
        raises_named(lambda: RunOptions(checkpoint_every=5), arg)  # needs a directory
    elif arg in ("resume", "overwrite", "progress"):
        raises_named(lambda: RunOptions(checkpoint_dir="ckpt", **{arg: data.draw(not_a_bool)}), arg)
    elif arg == "devices":
        value = data.draw(
            st.one_of(
                st.integers(-5, 0),
                st.booleans(),
                st.floats(),
                st.text(max_size=3),
                st.just([]),
                st.lists(st.integers(0, 3), min_size=1, max_size=2),
                st.just([jax.devices()[0]] * 2),
                st.dictionaries(st.integers(), st.integers(), max_size=1),
            )
        )
        raises_named(lambda: RunOptions(devices=value), arg)
    elif arg == "checkpoint_dir":
        value = data.draw(st.one_of(st.just(""), st.integers(), st.binary(min_size=1), st.lists(st.text())))
        raises_named(lambda: RunOptions(checkpoint_dir=value), arg)
    else:
        raises_named(lambda: RunOptions(mesh=data.draw(st.one_of(st.text(max_size=2), st.integers()))), arg)


def test_run_options_exclusive_choices():
    raises_named(lambda: RunOptions(steps=1, epochs=1), "steps")
    raises_named(lambda: RunOptions(resume=True), "resume")
    raises_named(lambda: RunOptions(checkpoint_dir="ckpt", resume=True, overwrite=True), "resume")
    assert RunOptions(devices=np.int64(1)).devices == 1


def _loss(model, batch, *, key):
    return jnp.mean((jax.vmap(model)(batch["x"]) - batch["y"]) ** 2)


_MODEL = eqx.nn.Linear(2, 1, key=KEY)
_DATA = {"x": np.ones((8, 2), np.float32), "y": np.zeros((8, 1), np.float32)}


@PURE
@given(
    st.sampled_from(
        [
            "batch_size",
            "devices",
            "resample_every",
            "eval_every",
            "config",
            "run",
            "key",
            "optimizer",
            "loss_fn",
            "model",
            "data",
            "length",
            "sampler",
        ]
    ),
    st.data(),
)
def test_fit_bad(which, data):
    """Each bad argument is refused in `fit`'s checks, before anything is compiled."""
    run = RunOptions(steps=2, batch_size=4, progress=False)
    kw = dict(key=KEY, run=run)
    opt = optax.sgd(1e-2)
    if which == "batch_size":
        n = data.draw(st.integers(9, 10**6))
        raises_named(
            lambda: fit(_MODEL, _loss, _DATA, opt, key=KEY, run=RunOptions(steps=2, batch_size=n)),
            "batch_size",
        )
        raises_named(lambda: fit(_MODEL, _loss, _DATA, opt, key=KEY, run=RunOptions(steps=2)), "batch_size")
    elif which == "devices":
        n = data.draw(st.integers(len(jax.devices()) + 1, 1000))
        raises_named(
            lambda: fit(_MODEL, _loss, _DATA, opt, key=KEY, run=RunOptions(steps=2, batch_size=4, devices=n)),
            "devices",
        )
    elif which == "resample_every":
        bad = data.draw(bad_int(1))
        raises_named(lambda: fit(_MODEL, _loss, _DATA, opt, **kw, resample_every=bad), "resample_every")
        good = data.draw(st.integers(2, 100))  # needs a sampler
        raises_named(lambda: fit(_MODEL, _loss, _DATA, opt, **kw, resample_every=good), "resample_every")
    elif which == "eval_every":
        run_e = RunOptions(steps=2, batch_size=4, eval_every=data.draw(st.integers(1, 9)))
        raises_named(lambda: fit(_MODEL, _loss, _DATA, opt, key=KEY, run=run_e), "eval_every")
        bad = data.draw(not_numeric.filter(lambda v: v is not None))
        raises_named(lambda: fit(_MODEL, _loss, _DATA, opt, **kw, eval_fn=bad), "eval_fn")
    elif which == "config":
        bad = data.draw(
            st.one_of(st.lists(st.integers(), max_size=2), st.integers(), st.just({"a": object()}))
        )
        raises_named(lambda: fit(_MODEL, _loss, _DATA, opt, **kw, config=bad), "config")
    elif which == "run":
        bad = data.draw(st.one_of(st.none(), st.just({"steps": 2}), st.integers()))
        raises_named(lambda: fit(_MODEL, _loss, _DATA, opt, key=KEY, run=bad), "run")
    elif which == "key":
        bad = data.draw(st.one_of(st.integers(), st.none(), st.just(jax.random.split(KEY, 2))))
        raises_named(lambda: fit(_MODEL, _loss, _DATA, opt, key=bad, run=run), "key")
    elif which == "optimizer":
        raises_named(lambda: fit(_MODEL, _loss, _DATA, data.draw(not_numeric), **kw), "optimizer")
    elif which == "loss_fn":
        raises_named(lambda: fit(_MODEL, data.draw(not_numeric), _DATA, opt, **kw), "loss_fn")
    elif which == "model":
        raises_named(lambda: fit(data.draw(not_numeric), _loss, _DATA, opt, **kw), "model")
    elif which == "data":
        bad = data.draw(
            st.sampled_from(
                [
                    {},
                    {"x": np.ones(())},
                    {"x": np.ones((0, 2))},
                    {"x": np.ones((3, 2)), "y": np.ones((4, 1))},
                    [1, 2, 3],
                    "abc",
                ]
            )
        )
        raises_named(
            lambda: fit(_MODEL, _loss, bad, opt, key=KEY, run=RunOptions(steps=2, batch_size=1)), "data"
        )
    elif which == "length":
        raises_named(lambda: fit(_MODEL, _loss, _DATA, opt, key=KEY, run=RunOptions(batch_size=4)), "steps")
    else:  # a sampler has no epochs and no batch size
        sampler = lambda k: _DATA  # noqa: E731
        raises_named(lambda: fit(_MODEL, _loss, sampler, opt, key=KEY, run=RunOptions(epochs=1)), "epochs")
        raises_named(
            lambda: fit(_MODEL, _loss, sampler, opt, key=KEY, run=RunOptions(steps=1, batch_size=2)),
            "batch_size",
        )


class _Called(Exception):
    """Raised by a loss that must not be reached."""


def _untouchable_loss(model, batch, *, key):
    raise _Called("fit started work before refusing its arguments")


@pytest.mark.parametrize("has_aux", ["no", 1, None])
def test_fit_has_aux_must_be_a_bool(has_aux):
    run = RunOptions(steps=1, batch_size=4, progress=False)
    raises_named(
        lambda: fit(_MODEL, _untouchable_loss, _DATA, optax.sgd(1e-2), key=KEY, run=run, has_aux=has_aux),
        "has_aux",
    )


@pytest.mark.parametrize("leaf", [np.array(["a", "b", "c"]), np.array([object()] * 3)])
def test_fit_non_numeric_array_data(leaf):
    run = RunOptions(steps=1, batch_size=1, progress=False)
    raises_named(
        lambda: fit(_MODEL, _untouchable_loss, {"x": leaf}, optax.sgd(1e-2), key=KEY, run=run), "data"
    )


def test_fit_tiny_run_works():
    run = RunOptions(steps=2, batch_size=4, progress=False)
    res = fit(_MODEL, _loss, _DATA, optax.sgd(1e-2), key=KEY, run=run)
    assert res.step == 2 and np.all(np.isfinite(res.history["loss"]))
