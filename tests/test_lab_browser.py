"""The lab extension in a real JupyterLab and headless Chromium: cells below the magic, the review flow, reload.

One notebook goes through the review flow in order (each test continues where the previous stopped, as a
person would): run %%tinyml_prep against the loopback chat server, accept one cell and discard another with
the per-cell actions, run an unreviewed cell, regenerate with a note, save, reload, accept the generation with
one click, run the magic again (its new cells go after the accepted ones), discard that generation, and read
the kernel's tally. A second JupyterLab with the extension disabled shows the fallback. The browser console
must stay free of errors throughout (checked after every test).
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
# The kernel's own count of the review decisions it was told about is in its status.
TALLY = "%tinyml status"
FIRST_ANSWER = (
    "Scale by the largest value.\n"
    "```python\nscaled = samples / 11.0\n```\n"
    "```python\nprint(scaled.max())\n```"
)
REGENERATED = (
    "Divide by the max.\n```python\nscaled = samples / samples.max()\nprint(scaled.min(), scaled.max())\n```"
)
THIRD_ANSWER = "```python\nscaled = (samples - samples.min()) / np.ptp(samples)\n```"
# A one-cell fallback copy as a headless run leaves it: its header and check lines are long.
LONG_FINDING = "the code reads a column named 'acceleration_x_filtered_and_normalised' that the frame does not have " * 2
FALLBACK_CELL = (
    "# tinyml train · openai/a-model-with-a-rather-long-name-indeed · UNREVIEWED: read before running\n"
    f"# check: {LONG_FINDING.strip()}\n# %%\nx = 1"
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_browser()
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="module")
def lab(workdir: Path, chat: ChatServer) -> Iterator[Any]:
    root = workdir / "notebooks"
    root.mkdir()
    write_notebook(root / "review.ipynb", [("setup", SETUP), ("magic", MAGIC), ("mine", TALLY)])
    write_notebook(
        root / "run_all.ipynb",
        [("setup", SETUP), ("magic", MAGIC), ("mine", "# a cell of my own"), ("saved", FALLBACK_CELL)],
    )
    env = lab_environment(workdir / "home", {"TINYML_MODEL": "openai/test-coder", "TINYML_API_BASE": chat.base_url})
    yield from lab_fixture(root, env)


@pytest.fixture(scope="module")
def browser(workdir: Path) -> Iterator[Browser]:
    with Browser() as opened:
        yield opened


@pytest.fixture(scope="module")
def notebook(lab: Any, browser: Browser) -> NotebookPage:
    return NotebookPage(browser.page()).open(lab.url("lab/tree/review.ipynb"))


@pytest.fixture(autouse=True)
def no_console_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test of the review notebook: the browser console had no error (a Discard that throws shows
    up here, as would any other exception in the extension)."""
    yield
    if "notebook" in request.fixturenames:
        page: NotebookPage = request.getfixturevalue("notebook")
        assert page.console_errors == []


def saved(lab: Any) -> dict[str, Any]:
    return json.loads((lab.root / "review.ipynb").read_text())


def bars(notebook: NotebookPage) -> Any:
    return notebook.page.locator(".jp-tinyml-ReviewBar")


def strips(notebook: NotebookPage) -> Any:
    return notebook.page.locator(".jp-tinyml-CellReview")


def status_item(notebook: NotebookPage) -> Any:
    return notebook.page.locator(".jp-tinyml-StatusItem")


def counted_cells(notebook: NotebookPage) -> int:
    """The cell total JupyterLab's own status bar item shows ("Cell 3/6")."""
    text = notebook.page.locator(".jp-StatusBar-TextItem", has_text="Cell ").first.inner_text()
    return int(text.rsplit("/", 1)[1])


def output_of(notebook: NotebookPage, index: int) -> str:
    output = notebook.cell(index).locator(".jp-OutputArea-output")
    return output.first.inner_text().strip() if output.count() else ""


def test_load_ext_shows_model_in_the_status_bar(notebook: NotebookPage) -> None:
    notebook.run(0)
    wait_for(lambda: status_item(notebook).inner_text() == "TinyML: openai/test-coder · no board", message="the status item")


def test_prep_inserts_cells_below_the_magic_with_one_bar(notebook: NotebookPage, chat: ChatServer) -> None:
    chat.answer(FIRST_ANSWER)
    notebook.run(1)
    wait_for(lambda: strips(notebook).count() == 3, message="three cells to review")
    # A markdown cell renders after it is inserted: its element can be there, still empty, for a moment.
    wait_for(lambda: notebook.sources()[2] != "", message="the prose cell rendered")
    sources = notebook.sources()
    assert sources[0] == SETUP and sources[1] == MAGIC and sources[-1] == TALLY
    assert sources[2] == "Scale by the largest value."  # the prose, as a rendered markdown cell
    assert sources[3:5] == ["scaled = samples / 11.0", "print(scaled.max())"]
    assert bars(notebook).count() == 1  # one bar for the generation, on its first cell
    bar = notebook.cell(2).locator(".jp-tinyml-ReviewBar")
    assert bar.locator(".jp-tinyml-ReviewBar-label").inner_text() == "tinyml prep · openai/test-coder · 3 cells to review"
    assert bar.locator(".jp-tinyml-ReviewBar-checks").inner_text() == "checks: none found"
    assert [b.inner_text() for b in bar.locator("button").all()] == ["Accept all", "Regenerate", "Discard all"]
    for index in (2, 3, 4):
        cell = notebook.cell(index)
        assert "jp-tinyml-unreviewed" in cell.get_attribute("class")
        assert cell.locator(".jp-tinyml-CellReview-mark").inner_text() == "unreviewed"
    wait_for(lambda: status_item(notebook).inner_text().endswith("· 3 to review"), message="the count to review")
    assert counted_cells(notebook) == 6
    notebook.page.wait_for_timeout(300)  # let the output area settle before the picture
    notebook.screenshot("review-bar.png")


def test_one_cells_accept_and_discard_keep_the_generations_bar(notebook: NotebookPage) -> None:
    notebook.cell(3).locator(".jp-tinyml-accept-cell").click()
    wait_for(lambda: strips(notebook).count() == 2, message="the accepted cell's strip to go")
    assert "jp-tinyml-unreviewed" not in notebook.cell(3).get_attribute("class")
    label = notebook.cell(2).locator(".jp-tinyml-ReviewBar-label")
    wait_for(lambda: label.inner_text().endswith("2 cells to review"), message="the bar's count")

    notebook.cell(2).locator(".jp-tinyml-discard-cell").click()  # the markdown note
    wait_for(lambda: notebook.cells.count() == 5, message="the markdown cell to go")
    assert notebook.sources()[2:4] == ["scaled = samples / 11.0", "print(scaled.max())"]
    # the bar moved to the generation's remaining cell
    assert bars(notebook).count() == 1 and notebook.cell(3).locator(".jp-tinyml-ReviewBar").count() == 1
    wait_for(lambda: status_item(notebook).inner_text().endswith("· 1 to review"), message="the count to review")


def test_running_an_unreviewed_cell_marks_it_ran_unreviewed(notebook: NotebookPage) -> None:
    notebook.run(2)  # the accepted cell defines `scaled`: no mark
    notebook.run(3)
    wait_for(lambda: output_of(notebook, 3) == "1.0", message="the cell's output")
    cell = notebook.cell(3)
    wait_for(lambda: "jp-tinyml-ran-unreviewed" in cell.get_attribute("class"), message="the ran-unreviewed mark")
    assert "jp-tinyml-unreviewed" in cell.get_attribute("class")  # still to review: the bar stays
    assert cell.locator(".jp-tinyml-CellReview-mark").inner_text() == "ran unreviewed"
    assert cell.locator(".jp-tinyml-ReviewBar").count() == 1
    assert "jp-tinyml-ran-unreviewed" not in notebook.cell(2).get_attribute("class")


def test_regenerate_with_a_note_replaces_the_unreviewed_cells(notebook: NotebookPage, chat: ChatServer) -> None:
    chat.answer(REGENERATED)
    notebook.cell(3).locator(".jp-tinyml-regenerate").click()
    dialog = notebook.page.locator(".jp-Dialog")
    dialog.locator("input").fill("divide by the max instead")
    dialog.locator(".jp-mod-accept").click()
    wait_for(lambda: notebook.cells.count() == 6 and "samples.max()" in notebook.sources()[4], message="the new cells")
    sources = notebook.sources()
    assert sources[2] == "scaled = samples / 11.0"  # accepted: never touched
    assert sources[3:5] == ["Divide by the max.", "scaled = samples / samples.max()\nprint(scaled.min(), scaled.max())"]
    assert bars(notebook).count() == 1 and strips(notebook).count() == 2
    bar = notebook.cell(3).locator(".jp-tinyml-ReviewBar")
    assert bar.locator(".jp-tinyml-ReviewBar-label").inner_text().endswith("2 cells to review")
    assert bar.locator(".jp-tinyml-ReviewBar-placed").inner_text() == "inserted after your 1 accepted cell"
    # the status item counts the regenerated cells, not the ones they replaced
    wait_for(lambda: status_item(notebook).inner_text().endswith("· 2 to review"), message="the count after Regenerate")
    notebook.page.wait_for_timeout(300)
    assert counted_cells(notebook) == 6  # JupyterLab's own "Cell n/6" follows the replacement too
    assert "divide by the max instead" in chat.requests[-1]["messages"][-1]["content"]


def test_marks_survive_save_and_reload(notebook: NotebookPage, lab: Any) -> None:
    notebook.run(4)  # runs unreviewed: the mark is saved in the metadata
    wait_for(lambda: output_of(notebook, 4) == "0.0 1.0", message="the regenerated cell's output")
    notebook.save()
    wait_for(
        lambda: len(saved(lab)["cells"]) == 6 and saved(lab)["cells"][4]["metadata"]["jupyter_tinyml"]["status"] == "ran-unreviewed",
        message="the saved notebook",
    )
    cells = saved(lab)["cells"]
    accepted, note, ran = cells[2]["metadata"], cells[3]["metadata"], cells[4]["metadata"]
    assert accepted["jupyter_tinyml"]["status"] == "accepted" and accepted["tags"] == ["tinyml-generated"]
    assert note["jupyter_tinyml"]["status"] == "unreviewed"
    assert ran["jupyter_tinyml"]["source_cell"] == "magic" and ran["jupyter_tinyml"]["note"]
    assert ran["jupyter_tinyml"]["model"] == "openai/test-coder"
    assert "sk-" not in json.dumps(cells)

    notebook.page.reload()
    notebook.wait_ready()
    wait_for(lambda: strips(notebook).count() == 2, message="the marks after reload")
    assert bars(notebook).count() == 1 and notebook.cell(3).locator(".jp-tinyml-ReviewBar").count() == 1
    assert "jp-tinyml-ran-unreviewed" in notebook.cell(4).get_attribute("class")
    assert "jp-tinyml-unreviewed" not in notebook.cell(2).get_attribute("class")


def test_accept_all_accepts_the_note_and_the_code_in_one_click(notebook: NotebookPage) -> None:
    # After the reload the page found the kernel's comm again (comm info) and said hello on it.
    wait_for(lambda: status_item(notebook).inner_text().startswith("TinyML: openai/test-coder"), message="the status")
    notebook.cell(3).locator(".jp-tinyml-accept").click()
    wait_for(lambda: strips(notebook).count() == 0 and bars(notebook).count() == 0, message="the marks to go")
    assert not notebook.page.locator(".jp-tinyml-unreviewed").count()
    wait_for(lambda: status_item(notebook).inner_text() == "TinyML: openai/test-coder · no board", message="no count")


def test_running_the_magic_again_inserts_after_the_accepted_cells(notebook: NotebookPage, chat: ChatServer) -> None:
    chat.answer(THIRD_ANSWER)
    notebook.run(1)
    wait_for(lambda: bars(notebook).count() == 1, message="the third answer's bar")
    sources = notebook.sources()
    assert len(sources) == 7 and sources[-1] == TALLY
    assert sources[2] == "scaled = samples / 11.0" and sources[3] == "Divide by the max."  # one copy of the code,
    assert "np.ptp" in sources[5]  # the new one below it
    placed = notebook.cell(5).locator(".jp-tinyml-ReviewBar-placed")
    assert placed.inner_text() == "inserted after your 3 accepted cells"


def test_discard_all_removes_the_generation_and_the_kernel_counts_every_decision(notebook: NotebookPage) -> None:
    notebook.cell(5).locator(".jp-tinyml-discard").click()
    wait_for(lambda: notebook.cells.count() == 6, message="the generation to go")
    assert bars(notebook).count() == 0 and notebook.sources()[-1] == TALLY
    notebook.run(5)
    # Each cell's last decision: accepted, one cell and then the note and the code at once (that code had
    # run unreviewed before); discarded, the first note and the rerun's cell; ran unreviewed, the print cell
    # that Regenerate replaced.
    wait_for(
        lambda: "reviews: 3 accepted, 2 discarded, 1 ran unreviewed" in output_of(notebook, 5).splitlines(),
        message="the kernel's count in %tinyml status",
    )


def test_run_all_inserts_the_cells_once_and_long_header_lines_wrap(lab: Any, browser: Browser, chat: ChatServer) -> None:
    """Run All queues the magic before the extension's hello is read: the kernel sends the cells both ways
    and the extension removes the set_next_input copy. A saved one-cell copy's long lines wrap."""
    notebook = NotebookPage(browser.page()).open(lab.url("lab/workspaces/run-all/tree/run_all.ipynb"))
    saved_copy = notebook.cell(3)
    assert "jp-tinyml-wrap" in saved_copy.get_attribute("class")
    scroller = saved_copy.locator(".cm-scroller")
    assert scroller.evaluate("node => node.scrollWidth <= node.clientWidth + 1")  # nothing runs off the cell
    header = saved_copy.locator(".cm-line").nth(1)  # the check line: longer than the cell is wide
    assert header.evaluate("node => node.getClientRects().length > 1 || node.offsetHeight > 30")

    chat.answer(FIRST_ANSWER)
    notebook.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    notebook.page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
    wait_for(lambda: strips(notebook).count() == 3, message="three cells to review")
    notebook.wait_idle()
    notebook.page.wait_for_timeout(1000)  # time for a set_next_input copy to show up, were it left in
    sources = notebook.sources()
    assert len(sources) == 7 and sources[3:5] == ["scaled = samples / 11.0", "print(scaled.max())"]
    assert [text for text in sources if "UNREVIEWED" in text] == [FALLBACK_CELL]  # only the saved one
    assert notebook.console_errors == []
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
    # JupyterLab reports closing the comm it has no target for: the very detection the kernel relies on
    # (notebook/comm.py). That one line is expected here; nothing else may reach the console.
    assert [error for error in notebook.console_errors if error != "console.error: Exception opening new comm"] == []
    notebook.page.close()
