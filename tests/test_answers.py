"""Answers as models give them (prose, fences, output blocks, explanations, cut-offs), read by the Python stages.

The answers go through litellm's real client to the loopback OpenAI server (streamed and not) and land in a real
IPython shell; what is inserted is run there, the way the person would run it.
"""
from __future__ import annotations

import dataclasses

import pytest
from lab_frontend import validator
from openai_server import Reply

from jupyter_tinyml.config import TinyML
from jupyter_tinyml.errors import AnswerCutOffError, AnswerFormError, NoPythonBlockError
from jupyter_tinyml.notebook.cells import GeneratedCell, Provenance, combine
from jupyter_tinyml.notebook.writers import CommWriter, SetNextInputWriter
from jupyter_tinyml.notebook.context import NotebookContext
from jupyter_tinyml.stages import answer, base

GPT4O_LIKE = """To compute the area, import `math` and use the radius:

```python
import math
radius = 2.0
area = math.pi * radius ** 2
print(f"{area:.2f}")
```

Running it prints:

```
12.57
```

### Explanation
- `math.pi` is the constant pi.
- The area of a circle is pi times the radius squared.
"""

TWO_PARTS_ONE_BROKEN = """First the radius:

```python
import math
radius = 2.0
```

Then the area:

```python
area = math.pi * radius ** 2
print(area
```
"""

TWO_PARTS_FIXED = TWO_PARTS_ONE_BROKEN.replace("print(area\n", "print(area)\n")


def point_at(shell, server, *, stream: bool = True, max_repairs: int = 2) -> TinyML:
    settings = shell.magics_manager.registry["TinyMLMagics"].settings
    settings.model, settings.api_base = "openai/test-coder", server.base_url
    settings.stream, settings.max_repairs = stream, max_repairs
    return settings


def settings_for(server, **changes: object) -> TinyML:
    return TinyML(model="openai/test-coder", api_base=server.base_url, **changes)


def parts_of(inserted: str) -> list[str]:
    """The `# %%` parts of a one-cell insertion, header first."""
    return [part.strip() for part in inserted.split("# %%")]


def sent(server, request: int) -> str:
    """The last message of one request the server received: the repair or continuation text."""
    return server.requests[request]["messages"][-1]["content"]


# --- order: prose, code, notes, explanation --------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_prose_code_and_explanation_keep_their_order_and_the_code_runs(shell, chat_server, stream):
    point_at(shell, chat_server, stream=stream)
    chat_server.answer(GPT4O_LIKE)
    shell.run_cell("%%tinyml_prep\narea of a circle of radius 2\n")
    assert len(chat_server.requests) == 1  # the output block is no syntax error to repair
    inserted = shell.rl_next_input
    header, before, code, after = parts_of(inserted)
    assert "# check:" not in header
    assert before.startswith("[markdown]\n# To compute the area")
    assert code.startswith("import math") and "12.57" not in code
    assert after.startswith("[markdown]\n# Running it prints:")
    assert after.index("# 12.57") < after.index("# ### Explanation")
    assert shell.run_cell(inserted).success and round(shell.user_ns["area"], 2) == 12.57


def test_untagged_output_fence_becomes_a_note_and_untagged_code_stays_code():
    text = "Check the shapes:\n```\nprint(x_train.shape)\n```\nOutput:\n```\n(60000, 28, 28)\n```\n```\nEpoch 1/5\nloss: 0.31\n```"
    cells = answer.cells(answer.python_parts(text))
    assert [(cell.cell_type, cell.source) for cell in cells] == [
        ("markdown", "Check the shapes:"),
        ("code", "print(x_train.shape)\n"),
        ("markdown", "Output:\n\n```text\n(60000, 28, 28)\n```\n\nExpected output:\n\n```text\nEpoch 1/5\nloss: 0.31\n```"),
    ]


def test_output_and_shell_tags_are_notes_and_other_languages_are_kept_as_blocks():
    text = "```python\nx = 1\n```\n```bash\npip install numpy\n```\n```json\n{\"a\": 1}\n```\n```console\n$ ls\n```"
    [code, notes] = answer.cells(answer.python_parts(text))
    assert code.source == "x = 1\n"
    assert notes.source == (
        "Shell commands (not run by tinyml):\n\n```bash\npip install numpy\n```\n\n```json\n{\"a\": 1}\n```\n\n"
        "Expected output:\n\n```console\n$ ls\n```"
    )


def test_fence_details_models_produce():
    """Indented fences in a list, info strings with titles, tildes, a closing fence glued to the code."""
    text = (
        "1. Load:\n   ```python title=\"load.py\"\n   import math\n   r = 2\n   ```\n"
        "~~~py\nd = 2 * r\n~~~\n```Python\narea = math.pi * r ** 2```\n"
    )
    parts = answer.python_parts(text)
    assert [(p.kind, p.text) for p in parts] == [
        ("prose", "1. Load:"), ("code", "import math\nr = 2\n"), ("code", "d = 2 * r\n"),
        ("code", "area = math.pi * r ** 2\n"),
    ]
    assert not answer.is_cut(text) and answer.is_cut(text + "```python\nx = (1,\n")


@pytest.mark.parametrize("stream", [True, False])
def test_two_fences_are_two_parts_that_both_run(shell, chat_server, stream):
    point_at(shell, chat_server, stream=stream)
    chat_server.answer(TWO_PARTS_FIXED)
    shell.run_cell("%%tinyml_prep\narea\n")
    inserted = shell.rl_next_input
    assert inserted.count("# %%\n") == 2 and inserted.index("radius = 2.0") < inserted.index("print(area)")
    assert shell.run_cell(inserted).success and shell.user_ns["area"] > 12


# --- each part checked on its own, named in the repair ---------------------------------------------------------


def test_the_repair_message_names_the_part_with_the_syntax_error(shell, chat_server):
    point_at(shell, chat_server)
    chat_server.answer(TWO_PARTS_ONE_BROKEN, TWO_PARTS_FIXED)
    shell.run_cell("%%tinyml_prep\narea\n")
    assert len(chat_server.requests) == 2
    repair = sent(chat_server, 1)
    assert "- part 2 (`area = math.pi * radius ** 2`): line 2: '(' was never closed" in repair
    assert "part 1" not in repair and "not defined" not in repair  # part 1 is fine and defines radius for part 2
    assert "print(area)" in shell.rl_next_input and "# check:" not in shell.rl_next_input


def test_streamed_rounds_and_continuations_are_set_apart(shell, chat_server, capsys):
    """A repair round's streamed answer starts on its own line under a marker, not glued to the last answer."""
    point_at(shell, chat_server, stream=True)
    chat_server.answer(TWO_PARTS_ONE_BROKEN, TWO_PARTS_FIXED)
    shell.run_cell("%%tinyml_prep\narea\n")
    out = capsys.readouterr().out
    assert "```\n\n[tinyml] round 2: the problems went back to the model ...\nFirst the radius:" in out


def test_a_broken_part_lends_its_names_to_the_next_so_its_error_is_not_echoed():
    cells = [GeneratedCell("import numpy as np\nx_train, y_train = load(\nmodel = make()\n"),
             GeneratedCell("history = model.fit(x_train, y_train)\nprint(np.mean(history))\n")]
    problems = base.check_cells(cells, {"load", "make"})
    assert [str(problem) for problem in problems] == ["part 1 (`import numpy as np`): line 2: '(' was never closed"]
    assert cells[0].blocked_by == [str(problems[0])] and cells[1].blocked_by == []


def test_one_part_answers_keep_plain_messages():
    cells = [GeneratedCell("n = len(x_trian)\n")]
    assert [str(problem) for problem in base.check_cells(cells, {"x_train"})] == [
        "line 1: name 'x_trian' is not defined (did you mean 'x_train'?)"
    ]


def test_part_labels_are_short_and_quote_safe():
    assert answer.part_label(3, "\n\n  x = `ls`\n") == "part 3 (`x = 'ls'`)"
    label = answer.part_label(1, "history = model.fit(x_train, y_train, validation_split=0.1, epochs=5)")
    assert label.startswith("part 1 (`history = model.fit(x_train") and label.endswith("…`)") and len(label) < 60


# --- a part that still fails: commented out in one cell, its own cell through the lab extension -------------------


def test_one_cell_fallback_comments_out_the_failing_part_and_the_rest_runs(shell, chat_server, capsys):
    point_at(shell, chat_server, max_repairs=1)
    still_broken = TWO_PARTS_ONE_BROKEN + "\n```python\nperimeter = 2 * math.pi * radius\n```\n"
    chat_server.answer(still_broken, still_broken)
    shell.run_cell("%%tinyml_prep\narea\n")
    assert len(chat_server.requests) == 2
    inserted = shell.rl_next_input
    problem = "part 2 (`area = math.pi * radius ** 2`): line 2: '(' was never closed"
    assert f"# check: {problem}" in inserted  # the header keeps every finding
    failing = next(part for part in parts_of(inserted) if "commented out" in part)
    assert f"#   {problem}" in failing and "# area = math.pi * radius ** 2\n# print(area" in failing
    assert "1 commented out" in capsys.readouterr().out
    result = shell.run_cell(inserted)
    assert result.success and "perimeter" in shell.user_ns and "area" not in shell.user_ns


def test_combine_comments_out_only_the_blocked_part():
    cells = [GeneratedCell("Notes", "markdown"), GeneratedCell("x = 1\n"),
             GeneratedCell("def f(:\n    pass\n", blocked_by=["part 2 (`def f(:`): line 1: invalid syntax"])]
    text = combine(cells, Provenance("prep", "m", "r"))
    assert "# %%\nx = 1" in text
    assert ("# tinyml: this part is commented out, it would fail as written:\n"
            "#   part 2 (`def f(:`): line 1: invalid syntax\n") in text
    assert "# def f(:\n#     pass" in text and "\ndef f(" not in text
    compile(text, "<cell>", "exec")  # the whole cell parses


class RecordingChannel:
    """The kernel's end of the lab comm as the extension sees it once it said hello."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    @property
    def live(self) -> bool:
        return True

    @property
    def pending(self) -> bool:
        return False

    def send(self, message: dict) -> None:
        self.sent.append(message)


def test_lab_extension_gets_the_failing_part_as_its_own_cell_with_its_findings(shell):
    problem = "part 2 (`print(area`): line 1: '(' was never closed"
    cells = [GeneratedCell("area = 3.0\n"), GeneratedCell("print(area\n", blocked_by=[problem])]
    provenance = Provenance("prep", "openai/test-coder", "area", checks=[problem])
    channel = RecordingChannel()
    assert "Inserted 2 cells below" in CommWriter(channel, shell).insert(cells, provenance)
    [message] = channel.sent
    validator("kernelMessage").validate(message)  # nothing beyond the protocol: blocked_by stays in the kernel
    assert [cell["source"] for cell in message["cells"]] == ["area = 3.0", "print(area"]
    assert all(cell["metadata"]["jupyter_tinyml"]["checks"] == [problem] for cell in message["cells"])
    SetNextInputWriter(shell).insert(cells, provenance)
    assert "# print(area" in shell.rl_next_input and shell.run_cell(shell.rl_next_input).success


# --- cut answers --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_an_answer_cut_at_max_tokens_gets_one_continuation(shell, chat_server, capsys, stream):
    point_at(shell, chat_server, stream=stream)
    cut = "Here:\n```python\nimport math\nradius = 2.0\narea = math.pi * ra"
    chat_server.replies += [
        Reply(cut, finish_reason="length"),
        Reply("```python\narea = math.pi * radius ** 2\n```\n\nThe area is in square units."),
    ]
    shell.run_cell("%%tinyml_prep\narea\n")
    assert len(chat_server.requests) == 2
    asked = chat_server.requests[1]["messages"]
    assert asked[-2] == {"role": "assistant", "content": cut} and "cut off" in asked[-1]["content"]
    inserted = shell.rl_next_input
    assert inserted.count("area = math.pi") == 1 and inserted.count("```") == 0
    assert inserted.index("area = math.pi * radius ** 2") < inserted.index("# The area is in square units.")
    assert len([line for line in capsys.readouterr().out.splitlines() if "out tokens" in line]) == 2
    assert shell.run_cell(inserted).success and shell.user_ns["area"] > 12


def test_an_unclosed_fence_is_continued_even_when_the_provider_says_stop(chat_server):
    chat_server.answer("```python\nimport math\nr = 2\n", "area = math.pi * r ** 2\n```\n")
    generation = base.generate(base.load_stage("prep"), "area", NotebookContext(), settings_for(chat_server))
    assert [cell.source for cell in generation.cells] == ["import math\nr = 2\narea = math.pi * r ** 2\n"]
    assert len(generation.completions) == 2 and generation.rounds == 1


def test_cut_twice_is_one_clear_line_and_the_tokens_spent_stay_known(shell, chat_server, capsys):
    cut = Reply("```python\nimport math\nradius = 2.0\narea = math", finish_reason="length")
    chat_server.replies += [cut, dataclasses.replace(cut, text=".pi * radius")]
    settings = settings_for(chat_server, max_tokens=300)
    with pytest.raises(AnswerCutOffError) as raised:
        base.generate(base.load_stage("prep"), "area", NotebookContext(), settings)
    assert str(raised.value).startswith("The model's answer was cut off at max_tokens=300")
    assert "%tinyml config max_tokens=1024" in str(raised.value)
    usage = [completion.usage_line() for completion in base.spent(raised.value)]
    assert len(usage) == 2 and all(line.startswith("openai/test-coder: ") and "out tokens" in line for line in usage)

    point_at(shell, chat_server)
    chat_server.replies += [cut, cut]
    assert not shell.run_cell("%%tinyml_prep\narea\n").success
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "cut off at max_tokens=2048" in err[0] and shell.rl_next_input is None


@pytest.mark.parametrize(
    "first, more, joined",
    [
        # exact continuation, mid-line
        ("```python\nx = fo", "o(1)\n```", "```python\nx = foo(1)\n```"),
        # the fence reopened (tagged), the cut line repeated
        ("```python\nimport math\narea = math.pi * ra", "```python\narea = math.pi * radius\n```",
         "```python\nimport math\narea = math.pi * radius\n```"),
        # a sentence, then the fence reopened
        ("```python\nx = 1\n", "Continuing from where I stopped:\n```python\ny = 2\n```", "```python\nx = 1\ny = 2\n```"),
        # a bare fence that closes the block is kept
        ("```python\nx = 1\n", "```\n\nThat is all.", "```python\nx = 1\n```\n\nThat is all."),
        # a bare fence that reopens it is not
        ("```python\nx = 1\n", "```\ny = 2\n```\nDone.", "```python\nx = 1\ny = 2\n```\nDone."),
        # a restart of the whole answer replaces it
        ("Here is the code:\n```python\nimport numpy as np\nx = np.zeros(3)\ny = ",
         "Here is the code:\n```python\nimport numpy as np\nx = np.zeros(3)\ny = x + 1\n```",
         "Here is the code:\n```python\nimport numpy as np\nx = np.zeros(3)\ny = x + 1\n```"),
        # an apology, then the whole block again: it replaces the cut block
        ("Here:\n```python\nimport numpy as np\nx = np.zeros(3)\ny = np.ones(",
         "Apologies, my answer was cut off. Here is the complete code:\n\n```python\nimport numpy as np\n"
         "x = np.zeros(3)\ny = np.ones(3)\n```",
         "Here:\n```python\nimport numpy as np\nx = np.zeros(3)\ny = np.ones(3)\n```"),
        # code before a fence line: that line closes the block
        ("```python\nmodel.fit(x,\n", "    epochs=5)\n```\nDone.", "```python\nmodel.fit(x,\n    epochs=5)\n```\nDone."),
    ],
)
def test_a_continuation_joins_without_duplicating(first, more, joined):
    assert answer.join(first, more) == joined and not answer.is_cut(joined)


def test_finish_reason_is_read_streamed_and_not(chat_server):
    from jupyter_tinyml.stages import llm

    for stream in (True, False):
        chat_server.replies += [Reply("```python\nx = (", finish_reason="length"), Reply("x = 1")]
        settings = settings_for(chat_server, stream=stream)
        cut = llm.complete([{"role": "user", "content": "x"}], settings)
        done = llm.complete([{"role": "user", "content": "x"}], settings)
        assert (cut.finish_reason, cut.cut_off, done.finish_reason, done.cut_off) == ("length", True, "stop", False)


# --- no Python at all: one request for the contract form ----------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_an_answer_without_python_gets_one_request_for_python_blocks(shell, chat_server, stream):
    point_at(shell, chat_server, stream=stream)
    chat_server.answer("Sure! In C++:\n```cpp\nfloat area = 3.14f * 4;\n```", "```python\narea = 3.14 * 4\n```")
    shell.run_cell("%%tinyml_prep\narea\n")
    assert len(chat_server.requests) == 2
    assert "cpp code but no Python" in sent(chat_server, 1) and "```python blocks" in sent(chat_server, 1)
    assert "area = 3.14 * 4" in shell.rl_next_input


def test_no_python_twice_ends_with_the_error_and_its_usage(chat_server):
    chat_server.answer("I would rather explain it in words.", "Still only words.", "```python\nnever = 1\n```")
    with pytest.raises(NoPythonBlockError) as raised:
        base.generate(base.load_stage("train"), "a model", NotebookContext(), settings_for(chat_server))
    assert len(chat_server.requests) == 2  # one request for the contract form, not one per round
    assert "held no Python code" in str(raised.value) and len(base.spent(raised.value)) == 2


def test_cells_of_an_earlier_round_survive_a_prose_only_last_round(chat_server):
    chat_server.answer("```python\nn = len(x_trian)\n```", "Sorry, I am not sure what you mean.")
    generation = base.generate(base.load_stage("prep"), "count", NotebookContext(),
                               settings_for(chat_server, max_repairs=1), known_names={"x_train"})
    assert [cell.source for cell in generation.cells] == ["n = len(x_trian)\n"]
    assert generation.cells[0].blocked_by and generation.findings()[0].startswith("line 1: name 'x_trian'")


class GlueFormError(AnswerFormError):
    def __init__(self) -> None:
        super().__init__("no glue in the answer", "Answer with the app dict in a ```python block.")


class GlueOnlyReader:
    """A reader like deploy's: raises its own AnswerFormError subclass with its own follow-up."""

    def __init__(self, asked: base.Asked) -> None:
        self.asked = asked

    def read(self, text: str) -> base.Reading:
        if "app =" not in text:
            raise GlueFormError()
        return base.Reading([GeneratedCell(text)])


def test_a_readers_own_form_request_is_what_the_model_is_told(chat_server):
    stage = dataclasses.replace(base.load_stage("deploy"), reader=GlueOnlyReader)
    chat_server.answer("```cpp\nvoid loop() {}\n```", "app = {}")
    generation = base.generate(stage, "glue", NotebookContext(), settings_for(chat_server))
    assert sent(chat_server, 1) == "Answer with the app dict in a ```python block."
    assert [cell.source for cell in generation.cells] == ["app = {}"] and len(generation.completions) == 2


def test_a_model_error_in_a_repair_round_keeps_the_first_rounds_usage(chat_server):
    from jupyter_tinyml.errors import RateLimitedError

    chat_server.answer("```python\nn = len(x_trian)\n```")
    chat_server.replies.append(Reply("Rate limit reached", status=429))
    with pytest.raises(RateLimitedError) as raised:
        base.generate(base.load_stage("prep"), "count", NotebookContext(), settings_for(chat_server))
    assert [completion.text for completion in base.spent(raised.value)] == ["```python\nn = len(x_trian)\n```"]


def test_the_usage_lines_come_before_the_error_line_in_the_cell(shell, chat_server, capsys):
    """Needs the magics.py change in /tmp/work/answers/magics.patch (magics print base.spent(error))."""
    point_at(shell, chat_server)
    cut = Reply("```python\nimport math\narea = math", finish_reason="length")
    chat_server.replies += [cut, cut]
    assert not shell.run_cell("%%tinyml_prep\narea\n").success
    captured = capsys.readouterr()
    assert len([line for line in captured.out.splitlines() if line.startswith("openai/test-coder: ")]) == 2
    assert "cut off at max_tokens=2048" in captured.err
