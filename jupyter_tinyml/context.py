"""NotebookContext: what the notebook holds, summarised for a prompt.

Why summaries and not data: a prompt must stay small (a token budget, default ~2,000) and capture must cost
the same whether the namespace holds 2 MB or 2 GB, so nothing here copies or scans a whole object.
Secrets never enter: names or values that look like keys, tokens or passwords are dropped, and os.environ is
never read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class VariableSummary:
    """One namespace object, summarised.

    kind: "ndarray" | "dataframe" | "series" | "keras_model" | "tflite" | "path" | "sequence" | "mapping"
          | "scalar" | "module" | "other"
    text: the one- to few-line description that goes into the prompt.
    facts: structured facts that offline recipes use (never sent as-is). Keys by kind:
      ndarray:   shape (tuple[int,...]), dtype (str), min, max (float, from a bounded sample),
                 is_integer (bool), n_unique (int | None, for 1-D arrays: from a bounded sample)
      dataframe: shape, columns (list[str]), dtypes (dict[str,str]), n_unique (dict[str,int], sampled),
                 label_candidates (list[str], most likely first)
      series:    length, dtype, n_unique
      keras_model: input_shape, output_shape, n_params, layers (list[str])
      tflite:    n_bytes, source ("bytes" | path str)
      path:      path (str), suffix, n_bytes, is_dir, columns (list[str], for .csv: the header row)
      sequence / mapping: length, keys (mapping, a few)
    relevance: higher is kept first when the budget is tight.
    """

    name: str
    kind: str
    text: str
    facts: dict[str, Any] = field(default_factory=dict)
    relevance: float = 1.0


@dataclass
class NotebookContext:
    """Everything a stage may tell the model, already filtered for secrets.

    `variables` holds every summary (recipes use them all); `render()` is what a prompt gets, cut to the budget.
    """

    variables: dict[str, VariableSummary] = field(default_factory=dict)
    recent_cells: list[str] = field(default_factory=list)
    last_error: str | None = None
    board: dict[str, Any] | None = None
    budget_tokens: int = 2000
    dropped: list[str] = field(default_factory=list)
