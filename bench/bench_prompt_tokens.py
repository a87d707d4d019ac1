"""Prompt size for the digits notebook at the prep stage, counted with litellm's tokenizer for gpt-4o-mini.

Goal: at most 2,000 tokens; a published LLM-driven TinyML pipeline averaged about 10,800 per data-processing run.
"""
from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from jupyter_tinyml.notebook import context  # noqa: E402
from jupyter_tinyml.stages.llm import import_litellm  # noqa: E402
from jupyter_tinyml.stages import base, prep  # noqa: E402

PUBLISHED_AVERAGE = 10_800
REQUEST = "Use the digit images and labels; keep 20% for testing."


def main() -> None:
    shell = InteractiveShell.instance()
    for cell in (
        "%load_ext jupyter_tinyml",
        "from sklearn.datasets import load_digits\ndigits = load_digits()\nimages, labels = digits.images, digits.target",
        "images.shape, labels.shape",
    ):
        shell.run_cell(cell, store_history=True)
    snapshot = context.capture_shell(shell, request=REQUEST, budget_tokens=2000)
    messages = base.build_messages(prep.STAGE, REQUEST, snapshot)
    litellm = import_litellm()
    tokens = litellm.token_counter(model="gpt-4o-mini", messages=messages)
    context_tokens = litellm.token_counter(model="gpt-4o-mini", text=snapshot.render())
    print(
        f"prep prompt, digits notebook: {tokens} tokens (context {context_tokens}, rest is the stage's instructions); "
        f"goal <= 2000 -> {tokens / 2000:.2f} of the goal; vs the published ~{PUBLISHED_AVERAGE:,}: "
        f"{PUBLISHED_AVERAGE / tokens:.1f}x smaller"
    )


if __name__ == "__main__":
    main()
