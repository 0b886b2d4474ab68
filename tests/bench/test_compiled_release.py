"""A suite drops every compiled program after each case: a long run (`scimlx bench all`) compiles hundreds,
and XLA's CPU backend keeps each one's machine code mapped until it is dropped."""

import sys
import types

import jax
import jax.numpy as jnp


def test_compiled_programs_are_dropped_between_cases(monkeypatch, tmp_path):
    from scimlx.bench import Case, Suite, _registry, run_suite

    square = jax.jit(lambda x: x * x)
    sizes = []

    def compile_one(ctx):
        square(jnp.ones(3)).block_until_ready()
        sizes.append(square._cache_size())
        return {"value": 1.0}

    def look(ctx):
        sizes.append(square._cache_size())
        return {"value": 2.0}

    suite = Suite("toy_release", "a toy suite", lambda quick: [Case("a", compile_one), Case("b", look)])
    module = types.ModuleType("toy_release_suite")
    module.SUITE = suite
    monkeypatch.setitem(sys.modules, "toy_release_suite", module)
    monkeypatch.setitem(_registry._SUITES, "toy_release", "toy_release_suite:SUITE")
    result = run_suite("toy_release", out=tmp_path / "run", progress=False, echo=False, plots=False)
    assert [r["status"] for r in result["rows"]] == ["ok", "ok"]
    assert sizes == [1, 0]
