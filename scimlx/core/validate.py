"""Argument checks shared by the whole package: each error names the argument and what was expected."""

from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray


def check_int(name: str, value: Any, *, low: int = 1, optional: bool = False) -> int | None:
    """An integer `>= low` (bools refused); `None` passes when `optional`."""
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
    """A finite real number (bools refused) within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        if low is not None and high is not None:
            lo, hi = "(" if low_open else "[", ")" if high_open else "]"
            allowed = f"in {lo}{low:g}, {high:g}{hi}"
        elif low is not None:
            allowed = f"{'>' if low_open else '>='} {low:g}"
        else:
            allowed = f"{'<' if high_open else '<='} {high:g}"
        raise ValueError(f"`{name}` must be {allowed}, got {value:g}")
    return value


def check_key(key: Any) -> PRNGKeyArray:
    """A single JAX PRNG key; a raw `uint32` key is wrapped into a typed one."""
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
    silently compute in float32)."""
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
