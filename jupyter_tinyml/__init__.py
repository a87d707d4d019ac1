"""jupyter-tinyml: from a dataset in a notebook to an int8 model on a microcontroller, one reviewed step at a time.

`%load_ext jupyter_tinyml` must stay fast: nothing here imports litellm or tensorflow.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_ipython_extension(shell: Any) -> None:
    """Register the magics (called by %load_ext)."""
    from .magics import TinyMLMagics

    shell.register_magics(TinyMLMagics(shell))


def unload_ipython_extension(shell: Any) -> None:
    """Stop listening for failed cells when the extension is unloaded."""
    magics = shell.magics_manager.registry.get("TinyMLMagics")
    if magics is not None:
        magics.failures.unregister(shell)
