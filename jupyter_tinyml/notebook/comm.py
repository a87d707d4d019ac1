"""The kernel's end of the comm to the JupyterLab extension (labextension/): detection, inserts, requests.

Detection, not configuration: ``%load_ext jupyter_tinyml`` opens a comm to the target ``jupyter_tinyml``.
JupyterLab with the extension answers ``{"op": "hello"}`` and the link is *live*: cells go through the comm.
A frontend without the extension closes the comm (JupyterLab does so for targets it does not know): the
link is *closed* and cells go through set_next_input. Until either happens the link is *pending*; the
writer then sends both ways (cells.CommWriter), because a "Run All" queues the next magic before the
frontend's hello can be read, and a headless runner such as nbclient never answers at all.

Messages from the frontend (``hello``, ``regenerate``, and the review decisions ``accept``, ``discard``,
``ran_unreviewed``, each naming ``cell_ids`` and their ``source_cell``) arrive between cell executions, or,
where the frontend sends comm messages over a kernel subshell (JupyterLab 4.6 with ipykernel 7), on that
subshell's thread while a cell may be running.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

TARGET = "jupyter_tinyml"
# The installed distribution's version, read from its metadata: importing the package for __version__ would
# tie this low module to the package __init__, which imports the magics, which import this.
DISTRIBUTION = "jupyter-tinyml"

log = logging.getLogger(__name__)


class LabLink:
    """One comm to the lab extension; ``state`` is "pending", "live" or "closed"."""

    def __init__(self, comm: Any, *, status: Callable[[], dict[str, Any]], requests: Callable[[dict[str, Any]], None]) -> None:
        self.comm = comm
        self.status = status
        self.requests = requests
        self.state = "pending"
        comm.on_msg(self._on_msg)
        comm.on_close(self._on_close)

    @classmethod
    def open(
        cls, shell: Any, *, status: Callable[[], dict[str, Any]], requests: Callable[[dict[str, Any]], None]
    ) -> "LabLink | None":
        """Open the comm when running in a kernel; None in a terminal IPython (no frontend to ask)."""
        if getattr(shell, "kernel", None) is None:
            return None
        from importlib.metadata import version

        from comm import create_comm

        comm = create_comm(target_name=TARGET, data={"op": "open", "version": version(DISTRIBUTION)})
        return cls(comm, status=status, requests=requests)

    @property
    def live(self) -> bool:
        return self.state == "live"

    @property
    def pending(self) -> bool:
        return self.state == "pending"

    def send(self, message: dict[str, Any]) -> None:
        """Send to the extension; dropped once the comm is closed (the writer has fallen back by then)."""
        if self.state != "closed":
            self.comm.send(message)

    def send_status(self) -> None:
        """Tell the status bar item the model and board (after hello, and whenever %tinyml config changes)."""
        if self.live:
            self.send({"op": "status", **self.status()})

    def close(self) -> None:
        """Close from the kernel side (%unload_ext)."""
        if self.state != "closed":
            self.state = "closed"
            self.comm.close()

    def _on_msg(self, message: dict[str, Any]) -> None:
        data = message.get("content", {}).get("data") or {}
        # Any message proves the extension is there; hello is also sent again after a page reload.
        self.state = "live"
        if data.get("op") == "hello":
            self.send_status()
            return
        try:
            self.requests(data)
        except Exception:  # a failure must not take the kernel's comm handling down; the request says why
            log.exception("jupyter-tinyml: request %r from the lab extension failed", data.get("op"))

    def _on_close(self, message: dict[str, Any]) -> None:
        self.state = "closed"


def lab_status(model: str, board: str, offline: bool) -> dict[str, Any]:
    """The status item's content: an empty model means the offline recipes answer."""
    return {"model": "" if offline else model, "board": board}
