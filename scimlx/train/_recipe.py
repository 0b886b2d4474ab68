"""The base of every family's recipe config: [`scimlx.train.Recipe`][]."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

__all__ = ["Recipe"]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A family's training recipe: the paper's optimiser, schedule, loss choices and defaults, as a frozen
    dataclass (`OperatorConfig`, `PINNConfig`, `DCDMConfig`).

    A family's `train_*` takes it as `config=` beside a [`scimlx.train.RunOptions`][] as `run=`: the recipe
    says what is trained and how (the paper's defaults), the run options how the run is carried out. Fields
    that both name (the length, the batch size) go to the run through
    [`run_defaults`][scimlx.train.Recipe.run_defaults], and a value set in the run wins.
    Subclasses validate their fields in `__post_init__`.
    """

    def run_defaults(self) -> dict[str, Any]:
        """The [`RunOptions`][scimlx.train.RunOptions] defaults this recipe sets (e.g. epochs, batch size)."""
        return {}

    def as_config(self) -> dict[str, Any]:
        """The recipe as a JSON-ready dict: stored in checkpoints and compared when a run resumes.

        The fields that are run defaults (the length, the batch size) are left out: a run may change its
        length when it resumes, and `fit` checks the batch size itself. Values that are not JSON (a custom
        optimiser object) are recorded by their type name.
        """
        out, skip = {}, set(self.run_defaults())
        for f in dataclasses.fields(self):
            if f.name in skip:
                continue
            value = getattr(self, f.name)
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                value = f"<{type(value).__name__}>"
            out[f.name] = value
        return out
