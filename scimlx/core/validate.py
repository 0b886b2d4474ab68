"""Argument checks shared by the whole package.

Every family checks its arguments with these helpers before any work starts, so that bad input fails the
same way everywhere: a `TypeError` for a value of the wrong kind (bools are never accepted as numbers), a
`ValueError` for a value of the right kind out of range. Each message names the argument in backticks and
says what was expected and what was given. Each helper returns the checked value, normalised (a Python
`int`/`float`/`bool`, a typed PRNG key, a NumPy dtype).

- [`scimlx.core.validate.check_int`][], [`scimlx.core.validate.check_number`][],
  [`scimlx.core.validate.check_bool`][]: scalars;
- [`scimlx.core.validate.check_choice`][]: one of a fixed set of names;
- [`scimlx.core.validate.check_callable`][]: a function;
- [`scimlx.core.validate.check_sequence`][]: a sequence (never a string), as a tuple;
- [`scimlx.core.validate.check_shape`][]: the number of axes and/or the shape of an array;
- [`scimlx.core.validate.check_multiple`][]: a duration that is a whole multiple of a time step, within
  [`scimlx.core.validate.MULTIPLE_RTOL`][];
- [`scimlx.core.validate.check_key`][], [`scimlx.core.validate.check_dtype`][]: a PRNG key, a floating dtype.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

__all__ = [
    "MULTIPLE_RTOL",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_dtype",
    "check_int",
    "check_key",
    "check_multiple",
    "check_number",
    "check_sequence",
    "check_shape",
]

MULTIPLE_RTOL = 1e-6
"""The relative tolerance of [`check_multiple`][scimlx.core.validate.check_multiple]: `total / step` may
differ from the nearest integer `n` by at most `MULTIPLE_RTOL * max(n, 1)`. Loose enough for durations and
steps written in decimal or rounded to float32 (relative error ~6e-8), tight enough that a step that does not
divide the duration is never taken for one that does."""


def check_int(name: str, value: Any, *, low: int = 1, optional: bool = False) -> int | None:
    """An integer `>= low` (bools refused); `None` passes when `optional`.

    **Arguments:**

    - `name`: the argument's name, for the message.
    - `value`: the value to check (a Python or NumPy integer).
    - `low`: the smallest allowed value; default 1.
    - `optional`: let `None` through (returned as `None`).

    **Returns:** the value as a Python `int`.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}, got {value}")
    return int(value)


def check_number(
    name: str, value: Any, *, low=None, high=None, low_open: bool = False, high_open: bool = False
) -> float:
    """A finite real number (bools refused) within the given bounds.

    **Arguments:**

    - `name`: the argument's name, for the message.
    - `value`: the value to check (a Python or NumPy real number).
    - `low`, `high`: optional bounds.
    - `low_open`, `high_open`: exclude the bound itself (`value > low` rather than `value >= low`).

    **Returns:** the value as a Python `float`.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r}")
    value = float(value)
    if low is not None and high is not None:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        allowed = f"in {lo}{low:g}, {high:g}{hi}"
    elif low is not None:
        allowed = f"{'>' if low_open else '>='} {low:g}"
        if low == 0:
            allowed = f"{'positive' if low_open else 'non-negative'} ({allowed})"
    elif high is not None:
        allowed = f"{'<' if high_open else '<='} {high:g}"
    else:
        allowed = None
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite{' and ' + allowed if allowed else ''}, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise ValueError(f"`{name}` must be {allowed}, got {value:g}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """A bool: Python's or NumPy's (integers such as 0 and 1 are refused).

    **Arguments:**

    - `name`: the argument's name, for the message.
    - `value`: the value to check.

    **Returns:** the value as a Python `bool`.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a bool, got {value!r}")
    return bool(value)


def check_choice(name: str, value: Any, choices: Iterable[Any], *, context: str | None = None) -> Any:
    """One of a fixed set of values (a name such as a scheme or a preset; a bool never stands for 1 or 0).

    **Arguments:**

    - `name`: the argument's name, for the message.
    - `value`: the value to check.
    - `choices`: the allowed values, listed in this order in the message.
    - `context`: optional words added to the message after the choices, e.g. `"for 'darcy'"`.

    **Returns:** the value, unchanged.
    """
    options = list(choices)
    ok = False
    if not isinstance(value, (bool, np.bool_)) or any(isinstance(c, (bool, np.bool_)) for c in options):
        try:
            ok = any(bool(value == c) for c in options)
        except (TypeError, ValueError):  # e.g. an array, whose comparison is not one bool
            ok = False
    if not ok:
        where = f" {context}" if context else ""
        raise ValueError(f"`{name}` must be one of {options}{where}, got {value!r}")
    return value


def _describe(value: Any) -> str:
    """The value's repr when short, else its type's name."""
    text = repr(value)
    return text if len(text) <= 60 else type(value).__name__


def check_sequence(name: str, value: Any, what: str = "a sequence") -> tuple:
    """A sequence (a tuple, a list, a generator, an array's rows), never a string or bytes.

    **Arguments:**

    - `name`: the argument's name, for the message.
    - `value`: the value to check.
    - `what`: words on what it should hold, for the message, e.g. `"a sequence of spatial axis indices"`.

    **Returns:** the items as a tuple (a generator is read once).
    """
    if not isinstance(value, (str, bytes)):
        try:
            return tuple(value)
        except TypeError:
            pass
    raise TypeError(f"`{name}` must be {what}, got {_describe(value)}")


def check_callable(name: str, value: Any, what: str | None = None, *, optional: bool = False) -> Any:
    """A callable (a function, an Equinox module, ...); `None` passes when `optional`.

    **Arguments:**

    - `name`: the argument's name, for the message.
    - `value`: the value to check.
    - `what`: optional words on what the function should be, for the message, e.g.
        `"a function of one point"`.
    - `optional`: let `None` through.

    **Returns:** the value, unchanged.
    """
    if value is None and optional:
        return None
    if not callable(value):
        desc = f" ({what})" if what else ""
        none = " or None" if optional else ""
        raise TypeError(f"`{name}` must be callable{desc}{none}, got {_describe(value)}")
    return value


def _shape_str(shape: Sequence[int | None]) -> str:
    inner = ", ".join("*" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def check_shape(
    name: str,
    value: Any,
    shape: Sequence[int | None] | None = None,
    *,
    ndim: int | Sequence[int] | None = None,
) -> Any:
    """An array (or anything with a shape: NumPy, JAX, a tracer) of a given number of axes and/or shape.

    **Arguments:**

    - `name`: the argument's name, for the message.
    - `value`: the array; it is not converted, so tracers and NumPy arrays pass through.
    - `shape`: the expected shape; `None` entries accept any size on that axis, e.g. `(None, 3)`.
    - `ndim`: the expected number of axes, or a sequence of allowed numbers, e.g. `(2, 3)`.

    **Returns:** the value, unchanged.
    """
    if not hasattr(value, "shape") or not hasattr(value, "ndim"):
        raise TypeError(f"`{name}` must be an array, got {type(value).__name__}")
    got = tuple(value.shape)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, numbers.Integral) else tuple(ndim)
        if len(got) not in allowed:
            axes = " or ".join(str(a) for a in allowed)
            raise ValueError(f"`{name}` must have {axes} axes, got shape {got}")
    if shape is not None:
        want = tuple(shape)
        if len(got) != len(want) or any(w is not None and g != w for g, w in zip(got, want)):
            raise ValueError(f"`{name}` must have shape {_shape_str(want)}, got shape {got}")
    return value


def check_multiple(name: str, total: Any, step: Any, step_name: str = "dt", *, low: int = 1) -> int:
    """A duration `total` that is a whole multiple `n >= low` of a step, within the relative tolerance
    [`MULTIPLE_RTOL`][scimlx.core.validate.MULTIPLE_RTOL] (`|total / step - n| <= MULTIPLE_RTOL max(n, 1)`).

    **Arguments:**

    - `name`: the name of `total`, for the message (may be an expression, e.g. `"t_final / n_records"`).
    - `total`: the duration, a real number `>= 0`.
    - `step`: the step, a real number `> 0`.
    - `step_name`: the name of `step`, for the message; default `"dt"`.
    - `low`: the smallest allowed ratio; default 1 (0 lets a zero duration through).

    **Returns:** the ratio `n` as a Python `int`.
    """
    total = check_number(name, total, low=0)
    step = check_number(step_name, step, low=0, low_open=True)
    ratio = total / step
    n = round(ratio)
    if n < low or abs(ratio - n) > MULTIPLE_RTOL * max(n, 1):
        kind = "whole" if low < 1 else "positive whole"
        raise ValueError(
            f"`{name}` ({total:g}) must be a {kind} multiple of `{step_name}` ({step:g}), "
            f"got {name} / {step_name} = {ratio:.10g}"
        )
    return int(n)


def check_key(key: Any) -> PRNGKeyArray:
    """A single JAX PRNG key; a raw `uint32` key is wrapped into a typed one.

    **Arguments:**

    - `key`: a typed key (`jax.random.key(0)`) or a raw one (`jax.random.PRNGKey(0)`).

    **Returns:** a typed PRNG key.
    """
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"`key` must be a single PRNG key, got shape {key.shape}")
        return key
    if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32:
        try:
            return jax.random.wrap_key_data(jnp.asarray(key))
        except (TypeError, ValueError) as e:
            raise ValueError(f"`key` is not a valid raw PRNG key: {e}") from e
    raise TypeError(f"`key` must be a JAX PRNG key (e.g. `jax.random.key(0)`), got {type(key).__name__}")


def check_dtype(name: str, dtype: Any) -> np.dtype:
    """A real floating dtype that JAX can honour: float64 needs JAX's 64-bit mode (otherwise JAX would
    silently compute in float32).

    **Arguments:**

    - `name`: the argument's name, for the message.
    - `dtype`: a dtype or its name, e.g. `"float32"`, `jnp.float64`.

    **Returns:** the dtype as a NumPy dtype.
    """
    try:
        dt = jnp.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"`{name}` must be a floating dtype such as 'float32', got {dtype!r}") from e
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"`{name}` must be a floating dtype such as 'float32', got {dt}")
    if dt.itemsize > 4 and not jax.config.jax_enable_x64:
        raise ValueError(
            f"`{name}` is {dt} but JAX's 64-bit mode is off (it would compute in float32); enable it with "
            "`jax.config.update('jax_enable_x64', True)` or the `jax.enable_x64` context"
        )
    return dt

