"""The lab extension in a real JupyterLab and headless Chromium: cells below the magic, the review bar, reload.

One notebook goes through the review flow in order (each test continues where the previous stopped, as a
person would): run %%tinyml_prep against the loopback chat server, accept, discard, regenerate, save,
reload, run the magic again. A second JupyterLab with the extension disabled shows the fallback.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from browser.lab import (
    Browser,
    NotebookPage,
    disable_extension,
    lab_environment,
    lab_fixture,
    require_browser,
    wait_for,
    write_notebook,
)
from openai_server import ChatServer

pytestmark = pytest.mark.timeout(180)

SETUP = "%load_ext jupyter_tinyml\nimport numpy as np\nsamples = np.arange(12).reshape(3, 4)"
MAGIC = "%%tinyml_prep\nscale samples to [0, 1]"
FIRST_ANSWER = (
    "Scale by the largest value.\n"
    "```python\nscaled = samples / 11.0\n```\n"
    "```python\nprint(scaled.max())\n```"
)
REGENERATED = "```python\nscaled = samples / samples.max()\nprint(scaled.min(), scaled.max())\n```"
THIRD_ANSWER = "```python\nscaled = (samples - samples.min()) / np.ptp(samples)\n```"


@pytest.fixture(scope="module")
def chat() -> Iterator[ChatServer]:
    server = ChatServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_browser()
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="module")
def lab(workdir: Path, chat: ChatServer) -> Iterator[Any]:
    root = workdir / "notebooks"
    root.mkdir()
    write_notebook(root / "review.ipynb", [("setup", SETUP), ("magic", MAGIC), ("mine", "# a cell of my own")])
    write_notebook(root / "run_all.ipynb", [("setup", SETUP), ("magic", MAGIC), ("mine", "# a cell of my own")])
    env = lab_environment(workdir / "home", {"TINYML_MODEL": "openai/test-coder", "TINYML_API_BASE": chat.base_url})
    yield from lab_fixture(root, env)


@pytest.fixture(scope="module")
def browser(workdir: Path) -> Iterator[Browser]:
    with Browser() as opened:
        yield opened


@pytest.fixture(scope="module")
def notebook(lab: Any, browser: Browser) -> NotebookPage:
    return NotebookPage(browser.page()).open(lab.url("lab/tree/review.ipynb"))


def saved(lab: Any) -> dict[str, Any]:
    return json.loads((lab.root / "review.ipynb").read_text())


def bars(notebook: NotebookPage) -> Any:
    return notebook.page.locator(".jp-tinyml-ReviewBar")


def test_load_ext_shows_model_in_the_status_bar(notebook: NotebookPage) -> None:
    notebook.run(0)
    item = notebook.page.locator(".jp-tinyml-StatusItem")
    wait_for(lambda: item.inner_text() == "TinyML: openai/test-coder · no board", message="the status item")


def test_prep_inserts_cells_below_the_magic_with_a_review_bar(notebook: NotebookPage, chat: ChatServer) -> None:
    chat.answer(FIRST_ANSWER)
    notebook.run(1)
    wait_for(lambda: bars(notebook).count() == 3, message="three review bars")
    # A markdown cell renders after it is inserted: its element can be there, still empty, for a moment.
    wait_for(lambda: notebook.sources()[2] != "", message="the prose cell rendered")
    sources = notebook.sources()
    assert sources[0] == SETUP and sources[1] == MAGIC and sources[-1] == "# a cell of my own"
    assert sources[2] == "Scale by the largest value."  # the prose, as a rendered markdown cell
    assert sources[3:5] == ["scaled = samples / 11.0", "print(scaled.max())"]
    for index in (2, 3, 4):
        cell = notebook.cell(index)
        assert "jp-tinyml-unreviewed" in cell.get_attribute("class")
        assert cell.locator(".jp-tinyml-ReviewBar-label").inner_text() == "tinyml prep · openai/test-coder · unreviewed"
        assert cell.locator(".jp-tinyml-ReviewBar-checks").inner_text() == "checks: none found"
    notebook.page.wait_for_timeout(300)  # let the output area settle before the picture
    notebook.screenshot("review-bar.png")


def test_accept_removes_the_bar_and_discard_removes_the_cell(notebook: NotebookPage) -> None:
    notebook.cell(3).locator(".jp-tinyml-accept").click()
    wait_for(lambda: bars(notebook).count() == 2, message="the accepted cell's bar to go")
    assert "jp-tinyml-unreviewed" not in notebook.cell(3).get_attribute("class")
    notebook.cell(2).locator(".jp-tinyml-discard").click()
    wait_for(lambda: notebook.cells.count() == 5, message="the markdown cell to go")
    assert notebook.sources()[2:4] == ["scaled = samples / 11.0", "print(scaled.max())"]
    assert bars(notebook).count() == 1


def test_running_an_unreviewed_cell_keeps_it_unreviewed(notebook: NotebookPage) -> None:
    notebook.run(2)  # the accepted cell defines `scaled`
    notebook.run(3)
    output = notebook.cell(3).locator(".jp-OutputArea-output")
    wait_for(lambda: output.count() and output.first.inner_text().strip() == "1.0", message="the cell's output")
    assert "jp-tinyml-unreviewed" in notebook.cell(3).get_attribute("class")
    assert notebook.cell(3).locator(".jp-tinyml-ReviewBar").count() == 1


def test_regenerate_with_a_note_replaces_the_unreviewed_cells(notebook: NotebookPage, chat: ChatServer) -> None:
    chat.answer(REGENERATED)
    notebook.cell(3).locator(".jp-tinyml-regenerate").click()
    dialog = notebook.page.locator(".jp-Dialog")
    dialog.locator("input").fill("divide by the max instead")
    dialog.locator(".jp-mod-accept").click()
    wait_for(lambda: "scaled = samples / samples.max()" in notebook.sources()[3], message="the regenerated cell")
    sources = notebook.sources()
    assert sources[2] == "scaled = samples / 11.0"  # accepted: never touched
    assert sources[3] == "scaled = samples / samples.max()\nprint(scaled.min(), scaled.max())"
    assert len(sources) == 5 and bars(notebook).count() == 1
    assert "divide by the max instead" in chat.requests[-1]["messages"][-1]["content"]


def test_marks_survive_save_and_reload(notebook: NotebookPage, lab: Any) -> None:
    notebook.save()
    wait_for(lambda: len(saved(lab)["cells"]) == 5, message="the saved notebook")
    cells = saved(lab)["cells"]
    accepted, unreviewed = cells[2]["metadata"], cells[3]["metadata"]
    assert accepted["jupyter_tinyml"]["status"] == "accepted" and accepted["tags"] == ["tinyml-generated"]
    assert unreviewed["jupyter_tinyml"]["status"] == "unreviewed"
    assert unreviewed["jupyter_tinyml"]["source_cell"] == "magic" and unreviewed["jupyter_tinyml"]["note"]
    assert unreviewed["jupyter_tinyml"]["model"] == "openai/test-coder"
    assert "sk-" not in json.dumps(cells)

    notebook.page.reload()
    notebook.wait_ready()
    wait_for(lambda: bars(notebook).count() == 1, message="the bar after reload")
    assert notebook.cell(3).locator(".jp-tinyml-ReviewBar").count() == 1
    assert "jp-tinyml-unreviewed" not in notebook.cell(2).get_attribute("class")


def test_running_the_magic_again_replaces_only_its_unreviewed_cells(notebook: NotebookPage, chat: ChatServer) -> None:
    # After the reload the page found the kernel's comm again (comm info) and said hello on it.
    item = notebook.page.locator(".jp-tinyml-StatusItem")
    wait_for(lambda: item.inner_text().startswith("TinyML: openai/test-coder"), message="the status after reload")
    chat.answer(THIRD_ANSWER)
    notebook.run(1)
    wait_for(lambda: "np.ptp" in notebook.sources()[3], message="the third answer")
    sources = notebook.sources()
    assert sources[2] == "scaled = samples / 11.0" and len(sources) == 5
    assert sources[4] == "# a cell of my own" and bars(notebook).count() == 1


def test_run_all_inserts_the_cells_once(lab: Any, browser: Browser, chat: ChatServer) -> None:
    """Run All queues the magic before the extension's hello is read: the kernel sends the cells both ways
    and the extension removes the set_next_input copy."""
    notebook = NotebookPage(browser.page()).open(lab.url("lab/workspaces/run-all/tree/run_all.ipynb"))
    chat.answer(FIRST_ANSWER)
    notebook.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    notebook.page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
    wait_for(lambda: bars(notebook).count() == 3, message="three review bars")
    notebook.wait_idle()
    notebook.page.wait_for_timeout(1000)  # time for a set_next_input copy to show up, were it left in
    sources = notebook.sources()
    assert len(sources) == 6 and sources[3:5] == ["scaled = samples / 11.0", "print(scaled.max())"]
    assert not [text for text in sources if "UNREVIEWED" in text]
    notebook.page.close()


@pytest.fixture(scope="module")
def lab_without_extension(workdir: Path, chat: ChatServer) -> Iterator[Any]:
    root = workdir / "fallback"
    root.mkdir()
    write_notebook(root / "fallback.ipynb", [("setup", SETUP), ("magic", MAGIC)])
    env = lab_environment(workdir / "home-disabled", {"TINYML_MODEL": "openai/test-coder", "TINYML_API_BASE": chat.base_url})
    disable_extension(env)
    yield from lab_fixture(root, env)


def test_without_the_extension_one_cell_arrives_through_set_next_input(
    lab_without_extension: Any, browser: Browser, chat: ChatServer
) -> None:
    notebook = NotebookPage(browser.page()).open(lab_without_extension.url("lab/tree/fallback.ipynb"))
    notebook.run(0)
    notebook.wait_idle()
    # JupyterLab closes the comm it has no target for; should the magic run before that close is read, the
    # kernel sends both ways and this frontend shows the set_next_input cell all the same.
    chat.answer(FIRST_ANSWER)
    notebook.run(1)
    wait_for(lambda: notebook.cells.count() == 3, message="the set_next_input cell")
    inserted = notebook.sources()[2]
    assert inserted.startswith("# tinyml prep · openai/test-coder · UNREVIEWED")
    assert "# %%\nscaled = samples / 11.0" in inserted and "# %%\nprint(scaled.max())" in inserted
    assert bars(notebook).count() == 0 and notebook.page.locator(".jp-tinyml-StatusItem").count() == 0
    notebook.page.close()
