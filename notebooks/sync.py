"""Keep the notebooks in step with their sources and with the repository's address.

    python notebooks/sync.py           # rewrite the Colab badges and install lines, regenerate every .ipynb
    python notebooks/sync.py --check   # change nothing; exit 1 and name the files that are out of date

Each notebook is written as a jupytext percent script, `NN_name.py`, the source of truth, paired with
`NN_name.ipynb` (no outputs), which Colab opens. The repository's address lives in one place,
`[project.urls] Repository` in pyproject.toml; the notebooks must hold it literally (Colab cannot read
pyproject), in the "Open in Colab" badge and in the install cell, and this script writes it there. The
`.ipynb` is the jupytext conversion of the `.py` with cell ids derived from the notebook's name and the
cell's position (so regenerating an unchanged notebook changes nothing). `tests/test_notebooks.py` checks
that both are in sync.
"""

from __future__ import annotations

import argparse
import hashlib
import pathlib
import re
import sys
import tomllib

import jupytext
import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
_COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^\s)\"']+?\.ipynb")
_INSTALL = re.compile(r"scimlx @ git\+[^\s\"']+")


def repository_url(root: pathlib.Path = ROOT) -> str:
    """The repository's address, `[project.urls] Repository` of pyproject.toml (a GitHub URL)."""
    with open(root / "pyproject.toml", "rb") as f:
        url = tomllib.load(f)["project"]["urls"]["Repository"]
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url.rstrip("/")):
        raise ValueError(f"pyproject's Repository must be https://github.com/<owner>/<repo>, got {url!r}")
    return url.rstrip("/").removesuffix(".git")


def colab_url(repo: str, name: str) -> str:
    """Where Colab opens the notebook `name` (without extension) of the branch `main` of `repo`."""
    owner_repo = repo.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{name}.ipynb"


def install_spec(repo: str) -> str:
    """The pip requirement the install cell installs on Colab."""
    return f"scimlx @ git+{repo}"


def sources(root: pathlib.Path = ROOT) -> list[pathlib.Path]:
    """The notebooks' percent scripts, `notebooks/NN_*.py`, in order."""
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.py"))


def with_urls(text: str, name: str, repo: str) -> str:
    """The script `text` with its Colab links and install requirements pointing at `repo`."""
    text = _COLAB_LINK.sub(colab_url(repo, name), text)
    return _INSTALL.sub(install_spec(repo), text)


def cell_id(name: str, index: int) -> str:
    """A stable cell id: from the notebook's name and the cell's position."""
    return hashlib.sha1(f"{name}:{index}".encode()).hexdigest()[:8]


def to_notebook(text: str, name: str) -> nbformat.NotebookNode:
    """The jupytext conversion of the percent script `text`, with stable cell ids and no outputs."""
    nb = jupytext.reads(text, fmt="py:percent")
    for i, cell in enumerate(nb.cells):
        cell["id"] = cell_id(name, i)
        if cell.cell_type == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb


def render(text: str, name: str) -> str:
    """The `.ipynb` file's text for the percent script `text`."""
    return jupytext.writes(to_notebook(text, name), fmt="ipynb") + "\n"


def sync(root: pathlib.Path = ROOT, *, check: bool = False) -> list[pathlib.Path]:
    """Bring every notebook in step; return the files that were (with `check`: that would be) rewritten."""
    repo = repository_url(root)
    changed = []
    for py in sources(root):
        name = py.stem
        text = py.read_text(encoding="utf-8")
        wanted = with_urls(text, name, repo)
        ipynb = py.with_suffix(".ipynb")
        notebook = render(wanted, name)
        for path, content in ((py, wanted), (ipynb, notebook)):
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                changed.append(path)
                if not check:
                    path.write_text(content, encoding="utf-8")
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if out of date")
    args = parser.parse_args()
    changed = sync(check=args.check)
    for path in changed:
        print(f"{'out of date' if args.check else 'rewrote'}: {path.relative_to(ROOT)}")
    if args.check and changed:
        sys.exit(1)


if __name__ == "__main__":
    main()
