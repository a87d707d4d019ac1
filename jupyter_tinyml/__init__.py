"""jupyter-tinyml: from a dataset in a notebook to an int8 model on a microcontroller, one reviewed step at a time.

`%load_ext jupyter_tinyml` must stay fast: nothing here imports litellm or tensorflow.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# The library a person (and the generated code) calls directly; each loads its module on first use.
_LIBRARY = {
    "convert": "model.convert",
    "evaluate": "model.evaluate",
    "compare": "model.compare",
    "inspect": "model.inspection",
    "QuantizationReport": "widgets",
    "DeployPanel": "widgets",
    "TrainingProgress": "widgets.training_progress",
    "write_project": "firmware",
}
__all__ = sorted(_LIBRARY) + ["load_ipython_extension", "unload_ipython_extension"]


def __getattr__(name: str) -> Any:
    if name in _LIBRARY:
        return getattr(import_module(f".{_LIBRARY[name]}", __name__), name)
    raise AttributeError(f"module 'jupyter_tinyml' has no attribute {name!r}")


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where `jupyter labextension develop` finds the built lab extension (a wheel puts it in share/ itself)."""
    return [{"src": "labextension", "dest": "jupyter-tinyml"}]


def load_ipython_extension(shell: Any) -> None:
    """Register the magics and, in a kernel, open the comm the lab extension answers (called by %load_ext)."""
    from .magics import TinyMLMagics
    from .native_logs import quiet_tensorflow
    from .notebook.comm import LabLink

    quiet_tensorflow()  # before anything loads TensorFlow: its C++ log lines read as errors in a notebook

    magics = TinyMLMagics(shell)
    shell.register_magics(magics)
    magics.link = LabLink.open(shell, status=magics.lab_status, requests=magics.handle_lab_request)


def unload_ipython_extension(shell: Any) -> None:
    """Stop listening for failed cells and close the comm when the extension is unloaded."""
    magics = shell.magics_manager.registry.get("TinyMLMagics")
    if magics is not None:
        magics.failures.unregister(shell)
        if magics.link is not None:
            magics.link.close()
