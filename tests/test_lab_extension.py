"""The lab extension as built and installed: its TypeScript unit tests, and JupyterLab seeing it enabled."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


from prerequisites import unavailable

LABEXTENSION = Path(__file__).resolve().parents[1] / "labextension"
VENV_BIN = Path(sys.executable).parent


def require_node() -> str:
    npm = shutil.which("npm")
    if npm is None:
        unavailable("the lab extension's unit tests need node and npm (apt-get install nodejs npm)")
    return npm


def test_typescript_unit_tests_pass() -> None:
    """labextension/test/*.test.ts (node's test runner): placement, provenance, labels, the comm messages' schema."""
    npm = require_node()
    if not (LABEXTENSION / "node_modules").exists():  # an install from a wheel built elsewhere
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=LABEXTENSION, check=True, capture_output=True)
    result = subprocess.run([npm, "test"], cwd=LABEXTENSION, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout


def test_jupyterlab_lists_the_extension_enabled() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "jupyter"), "labextension", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=120,
    )
    listing = result.stdout + result.stderr
    line = next((line for line in listing.splitlines() if "jupyter-tinyml" in line), "")
    assert "enabled" in line and "OK" in line and "(python, jupyter-tinyml)" in line, listing


def test_the_lockfile_names_no_download_address() -> None:
    """Installs resolve through the configured npm registry only: the lock records versions, not URLs."""
    lock = json.loads((LABEXTENSION / "package-lock.json").read_text())
    addresses = {
        package.get("resolved", "")
        for package in lock["packages"].values()
        if package.get("resolved", "").startswith(("http:", "https:", "git"))
    }
    assert {address for address in addresses if not address.startswith("https://registry.npmjs.org/")} == set()
