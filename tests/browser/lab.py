"""A real JupyterLab (or Notebook 7) on 127.0.0.1 and Debian's Chromium driven by Playwright, for the lab
extension's tests. Every page records its console errors and uncaught exceptions: the tests fail on any.

Nothing is downloaded: Playwright's wheel carries its driver, Chromium comes from apt (the Makefile installs
it when root). Where Chromium cannot be had the tests skip and say why, except under CI=true, where a
skipped browser test would hide a broken set-up and so fails.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from prerequisites import unavailable

CHROMIUM = "/usr/bin/chromium"
# Chromium's own background traffic is refused on this network; these keep it quiet and fast.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
VENV_BIN = Path(sys.executable).parent
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"

# JupyterLab settings for a quiet test page: no news prompt, no update check.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


def require_browser() -> None:
    """Skip (fail under CI=true) when Chromium or Playwright is missing."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium, as root; `make test` does it)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright; the [test] extra has it)")
    if shutil.which("jupyter-lab", path=str(VENV_BIN)) is None:
        missing.append("jupyterlab (the [test] extra has it)")
    if missing:
        unavailable("browser tests need " + " and ".join(missing))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The command line of each application: JupyterLab, and Notebook 7 (JupyterLab-based, same prebuilt extensions).
APPS = {
    "lab": ["jupyter-lab", "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
    "notebook": ["jupyter-notebook"],
}


@dataclass
class LabServer:
    """`jupyter lab` (or `jupyter notebook`, app="notebook") in its own config, settings and runtime dirs,
    serving `root`."""

    root: Path
    env: dict[str, str]
    app: str = "lab"
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}?token={self.token}"

    def start(self, timeout_s: float = 90) -> "LabServer":
        log = open(self.root.parent / f"jupyter-{self.app}-{self.port}.log", "wb")  # noqa: SIM115 (lives with the server)
        executable, *app_options = APPS[self.app]
        self.process = subprocess.Popen(
            [
                str(VENV_BIN / executable),
                *app_options,
                "--no-browser",
                f"--IdentityProvider.token={self.token}",
                "--allow-root",  # CI runs as root; harmless otherwise
                f"--port={self.port}",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.root_dir={self.root}",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited with {self.process.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"jupyter {self.app} did not answer within {timeout_s}s; see {log.name}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def lab_environment(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """Environment for a test JupyterLab: config, data-independent dirs in `home`, kernels inheriting `extra`."""
    config, settings, runtime = home / "config", home / "settings", home / "runtime"
    for folder in (config, settings, runtime, home / "workspaces"):
        folder.mkdir(parents=True, exist_ok=True)
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        **extra,
    }


def disable_extension(env: dict[str, str]) -> None:
    """What a person would do: `jupyter labextension disable`, here in this server's own config dir."""
    subprocess.run(
        [str(VENV_BIN / "jupyter"), "labextension", "disable", "--level=user", "jupyter-tinyml"],
        env=env,
        check=True,
        capture_output=True,
    )


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> None:
    """A notebook of code cells with the given (id, source), for the python3 kernel."""
    notebook = {
        "cells": [
            {"cell_type": "code", "id": cell_id, "metadata": {}, "source": source, "outputs": [], "execution_count": None}
            for cell_id, source in cells
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1))


@dataclass
class Browser:
    """One headless Chromium (Playwright's sync API); launch() gives it a fresh temporary profile each time."""

    playwright: Any = None
    browser: Any = None

    def __enter__(self) -> "Browser":
        from playwright.sync_api import sync_playwright

        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.browser.close()
        self.playwright.stop()

    def page(self) -> Any:
        page = self.browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(45_000)
        return page


def watch_console(page: Any) -> list[str]:
    """The page's console errors and uncaught exceptions, as they happen (a list the caller keeps)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(f"console.error: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}\n{error.stack}"))
    return errors


class NotebookPage:
    """A notebook open in JupyterLab (or Notebook 7), seen and used as a person would: cells, keys, buttons.

    `console_errors` collects what the browser console reports as an error from the moment the page exists;
    the tests assert it stays empty through the whole lifecycle."""

    def __init__(self, page: Any, app: str = "lab") -> None:
        self.page = page
        self.app = app
        self.console_errors = watch_console(page)

    def open(self, url: str) -> "NotebookPage":
        self.page.goto(url)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Cells shown and the kernel connected and idle (keys pressed before that start a second kernel)."""
        self.page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
        if self.app == "lab":
            self.page.locator(".jp-StatusBar-TextItem", has_text="(ipykernel) | Idle").wait_for()
        else:  # Notebook 7 has no status bar: its toolbar names the kernel once connected
            self.page.locator(".jp-KernelName", has_text="Python 3").first.wait_for()
            self.page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for()

    @property
    def cells(self) -> Any:
        return self.page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")

    def cell(self, index: int) -> Any:
        return self.cells.nth(index)

    def sources(self) -> list[str]:
        """Each cell's text as shown (CodeMirror lines, or a rendered markdown cell's text)."""
        texts = []
        for index in range(self.cells.count()):
            cell = self.cell(index)
            editor = cell.locator(".cm-content")
            if "jp-MarkdownCell" in (cell.get_attribute("class") or "") and cell.locator(".jp-RenderedMarkdown").count():
                texts.append(cell.locator(".jp-RenderedMarkdown").inner_text().strip())
            else:
                texts.append("\n".join(editor.locator(".cm-line").all_inner_texts()))
        return texts

    def run(self, index: int) -> None:
        """Select the cell in command mode and run it in place (Ctrl+Enter)."""
        self.cell(index).locator(".jp-InputPrompt").click()
        self.page.keyboard.press("Control+Enter")

    def wait_idle(self) -> None:
        self.page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()

    def save(self) -> None:
        self.page.keyboard.press("Control+s")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=False)
        return path


def wait_for(condition: Any, timeout_s: float = 30, interval_s: float = 0.2, message: str = "condition") -> Any:
    """Poll until `condition()` is truthy; its last value otherwise, in the assertion message."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out waiting for {message}; last value: {value!r}")


def lab_fixture(root: Path, env: dict[str, str], app: str = "lab") -> Iterator[LabServer]:
    server = LabServer(root=root, env=env, app=app).start()
    try:
        yield server
    finally:
        server.stop()
