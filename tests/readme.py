"""Run a python block of README.md in the tests (each section's example is executed by its family's tests)."""

import pathlib

README = pathlib.Path(__file__).parents[1] / "README.md"


def run_readme_block(index: int, must_contain: str, replace: dict[str, str] | None = None) -> dict:
    """Execute the `index`-th (1-based) python block of README.md, after `replace` and with `print` silenced;
    return its namespace."""
    block = README.read_text().split("```python\n")[index].split("```", 1)[0]
    assert must_contain in block, f"README block {index} no longer holds {must_contain!r}"
    for old, new in (replace or {}).items():
        assert old in block, f"README block {index} no longer holds {old!r}"
        block = block.replace(old, new)
    namespace: dict = {}
    exec(compile(block.replace("print(", "(lambda *a: None)("), "README.md", "exec"), namespace)
    return namespace
