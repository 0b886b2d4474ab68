"""Build-time content of the documentation site: pages drawn from the code and the repository's own files,
so nothing is written twice.

Markers in a page's markdown, replaced when the site is built:

- `<!-- readme: Heading -->`: that section of README.md (up to the next heading of the same level);
- `<!-- file: path -->`: a repository file's markdown (its first heading dropped);
- `<!-- equations -->`: the equation catalogue, from `scimlx.core.EQUATIONS`;
- `<!-- recipes -->`: the data recipes, from `scimlx.datasets`;
- `<!-- notebooks -->`: the notebooks under `notebooks/`, with their Colab links.
"""

from __future__ import annotations

import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).parents[1]


def _readme_section(heading: str) -> str:
    lines = (ROOT / "README.md").read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(#+) (.*)", line)
        if m and m.group(2).strip() == heading:
            level, body = len(m.group(1)), []
            in_code = False
            for later in lines[i + 1 :]:
                in_code ^= later.startswith("```")
                n = re.match(r"(#+) ", later)
                if not in_code and n and len(n.group(1)) <= level:
                    break
                body.append(later)
            return _relink("\n".join(body).strip() + "\n")
    raise ValueError(f"README.md has no section {heading!r}")


def _relink(text: str) -> str:
    """README's links to its own sections and to repository files, made valid on the site."""
    repo = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    text = re.sub(r"\]\(#testing\)", "](getting-started.md#testing)", text)
    text = re.sub(r"\]\(#[^)]*\)", "](index.md)", text)
    return re.sub(r"\]\((?!https?:|#)([^)]+)\)", lambda m: f"]({repo}/blob/main/{m.group(1)})", text)


def _file(path: str) -> str:
    text = (ROOT / path).read_text()
    return re.sub(r"\A# .*\n", "", text)


def _equations() -> str:
    from scimlx.core import EQUATIONS

    rows = ["| name | class | equation | summary |", "|---|---|---|---|"]
    for name, cls in EQUATIONS.items():
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        rows.append(
            f"| `{name}` | [`{cls.__name__}`][scimlx.core.{cls.__name__}] | `{cls.formula}` | {doc} |"
        )
    return "\n".join(rows) + "\n"


def _recipes() -> str:
    from scimlx.datasets import get_recipe, recipe_names

    parts = []
    for name in recipe_names():
        r = get_recipe(name)
        params = ", ".join(f"`{k}={v!r}`" for k, v in r.params.items())
        presets = "; ".join(
            f"`{p}`: " + ", ".join(f"{k}={v!r}" for k, v in o.items()) for p, o in r.presets.items()
        )
        parts.append(
            f"### `{name}`\n\n{r.description}.\n\n- parameters (defaults): {params}\n"
            + (f"- presets: {presets}\n" if presets else "")
            + (f"- grid: {r.resolution_note}\n" if getattr(r, "resolution_note", None) else "")
            + f'\n`load("{name}", n_train=..., n_test=...)` or `scimlx data generate {name} --n ...`\n'
        )
    return "\n".join(parts)


def _notebooks() -> str:
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    repo = urls["Repository"].removeprefix("https://github.com/")
    rows = ["| notebook | open |", "|---|---|"]
    for nb in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        colab = f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/{nb.name}"
        rows.append(f"| `{nb.stem}` | [Open in Colab]({colab}) |")
    return "\n".join(rows) + "\n"


_MARKERS = {
    r"<!-- readme: (.+?) -->": lambda m: _readme_section(m.group(1).strip()),
    r"<!-- file: (.+?) -->": lambda m: _file(m.group(1).strip()),
    r"<!-- equations -->": lambda m: _equations(),
    r"<!-- recipes -->": lambda m: _recipes(),
    r"<!-- notebooks -->": lambda m: _notebooks(),
}


def on_page_markdown(markdown: str, **kwargs) -> str:
    for pattern, fill in _MARKERS.items():
        markdown = re.sub(pattern, fill, markdown)
    return markdown
