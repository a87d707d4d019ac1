"""The evaluation's summary and report on hand-made run records whose figures are known: the Wilson interval, the
per-stage rows (n per stage when runs end early, means, maxima, failure kinds, fallbacks), the terminal table's
width, the README table, the self-contained HTML page (one plot per stage, model-written text escaped) and the JSON
that reads back into the same records."""
from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from jupyter_tinyml.eval.records import OK, STAGES, RunRecord, StageResult
from jupyter_tinyml.eval.report import html_report, markdown_table, percent, results_json, text_table
from jupyter_tinyml.eval.summary import PUBLISHED, PUBLISHED_SOURCE, stage_rows, wilson

SETTINGS = {
    "model": "openai/gpt-4o-mini", "api_base": "http://127.0.0.1:8765/v1", "runs": 4,
    "notebooks": ["example_notebooks/01_digits_lifecycle.ipynb", "example_notebooks/02_keyword_spotting.ipynb"],
    "out": "eval-out", "accuracy_floor": 0.8, "int8_margin": 0.05, "check_samples": 50, "max_tokens_total": None,
}
INJECTED = "<script>alert(1)</script>"


def stage(name: str, kind: str = OK, **fields: object) -> StageResult:
    return StageResult(stage=name, kind=kind, **fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def records() -> list[RunRecord]:
    """Four runs: two reach every stage, two end at train (its offline recipe failed too)."""
    return [
        RunRecord("01_digits_lifecycle", 1, "openai/gpt-4o-mini", [
            stage("prep", rounds=1, prompt_tokens=1000, completion_tokens=200, cost_usd=0.02, model_seconds=2.0,
                  stage_seconds=10.0),
            stage("train", rounds=3, prompt_tokens=3000, completion_tokens=600, cost_usd=0.05, model_seconds=6.0,
                  stage_seconds=60.0),
            stage("convert", "runtime_error", first_error="ValueError: A", rounds=1, prompt_tokens=500,
                  completion_tokens=100, fallback=True),
            stage("deploy", rounds=1, prompt_tokens=4000, completion_tokens=800, cost_usd=0.1),
        ]),
        RunRecord("01_digits_lifecycle", 2, "openai/gpt-4o-mini", [
            stage("prep", rounds=2, prompt_tokens=1400, completion_tokens=300, cost_usd=0.04, model_seconds=4.0,
                  stage_seconds=14.0),
            stage("train", "runtime_error", first_error="NameError: B", rounds=2, prompt_tokens=2000,
                  completion_tokens=400, fallback=True),
            stage("convert", "runtime_error", first_error=f"NameError: B {INJECTED}", rounds=1, fallback=True),
            stage("deploy", "build_error", first_error="undefined reference to `predict' | " + "x" * 400, rounds=4,
                  prompt_tokens=5000, completion_tokens=1000),
        ]),
        RunRecord("02_keyword_spotting", 1, "openai/gpt-4o-mini", [
            stage("prep", "no_code", rounds=2, prompt_tokens=900, completion_tokens=0, cost_usd=0.0,
                  model_seconds=3.0, stage_seconds=3.0, fallback=True),
            stage("train", "no_code", first_error="NoPythonBlockError: no python block", rounds=2),
        ]),
        RunRecord("02_keyword_spotting", 2, "openai/gpt-4o-mini", [
            stage("prep", rounds=1, prompt_tokens=1100, completion_tokens=250, cost_usd=0.02, model_seconds=3.0,
                  stage_seconds=13.0),
            stage("train", "runtime_error", first_error="\n  NameError: B  \nTraceback (most recent call last):",
                  rounds=1),
        ]),
    ]


@pytest.fixture(scope="module")
def rows(records: list[RunRecord]):
    return stage_rows(records)


def test_wilson_matches_known_intervals():
    low, high = wilson(9, 10)
    assert low == pytest.approx(0.5958, abs=5e-4) and high == pytest.approx(0.9821, abs=5e-4)
    assert wilson(0, 5) == pytest.approx((0.0, 0.4345), abs=5e-4)
    assert wilson(5, 5) == pytest.approx((0.5655, 1.0), abs=5e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    # The interval of k failures is the mirror of the interval of k successes.
    assert wilson(3, 7) == pytest.approx(tuple(1 - bound for bound in reversed(wilson(4, 7))))
    with pytest.raises(ValueError):
        wilson(6, 5)


def test_a_share_short_of_all_or_none_is_never_shown_as_all_or_none():
    assert [percent(share) for share in (0, 1 / 300, 0.37, 299 / 300, 1)] == ["0%", "<1%", "37%", ">99%", "100%"]


def test_stage_rows_count_only_the_runs_that_reached_each_stage(rows):
    assert [row.stage for row in rows] == list(STAGES)
    assert [(row.n, row.successes) for row in rows] == [(4, 3), (4, 1), (2, 0), (2, 1)]
    prep, train, convert, deploy = rows
    assert prep.rate == 0.75 and prep.ci == wilson(3, 4)
    assert deploy.rate == 0.5


def test_stage_rows_means_and_maxima(rows):
    prep, train, _, deploy = rows
    assert prep.repairs_mean == 0.5 and prep.repairs_max == 1
    assert prep.prompt_tokens_mean == 1100 and prep.completion_tokens_mean == 187.5
    assert prep.model_seconds_mean == 3.0 and prep.stage_seconds_mean == 10.0
    assert train.repairs_mean == 1.0 and train.repairs_max == 2
    assert deploy.repairs_max == 3 and deploy.prompt_tokens_mean == 4500


def test_cost_is_known_only_when_every_run_of_the_stage_had_one(rows):
    prep, train, convert, deploy = rows
    assert prep.cost_mean == pytest.approx(0.02)  # a cost of 0.0 is known, not missing
    assert train.cost_mean is None and convert.cost_mean is None and deploy.cost_mean is None


def test_failures_in_kind_order_with_the_most_common_first_error_line(rows):
    prep, train, convert, deploy = rows
    assert prep.failures == {"no_code": 1} and prep.first_errors == {}  # no error line was kept
    assert list(train.failures.items()) == [("no_code", 1), ("runtime_error", 2)]
    assert train.first_errors == {"no_code": "NoPythonBlockError: no python block", "runtime_error": "NameError: B"}
    assert convert.failures == {"runtime_error": 2}
    assert convert.first_errors == {"runtime_error": "ValueError: A"}  # a tie keeps the line seen first
    assert [row.fallbacks for row in rows] == [1, 1, 2, 0]


def test_a_stage_no_run_reached_has_a_row():
    rows = stage_rows([RunRecord("01_digits_lifecycle", 1, "m", [stage("prep", prompt_tokens=10)])])
    deploy = rows[-1]
    assert not deploy.reached and deploy.n == 0 and deploy.ci == (0.0, 1.0) and deploy.cost_mean is None
    assert deploy.failures == {} and deploy.published == PUBLISHED["deploy"]
    assert rows[1].published is None  # no published figure for train


def test_text_table_fits_a_terminal_and_says_what_it_found(records, rows):
    table = text_table(rows, SETTINGS)
    lines = table.splitlines()
    assert max(len(line) for line in lines) < 120
    assert "openai/gpt-4o-mini" in table and "http://127.0.0.1:8765/v1" in table
    assert "01_digits_lifecycle, 02_keyword_spotting" in table
    assert "accuracy floor 0.8" in table and "int8 margin 0.05" in table
    prep = next(line for line in lines if line.startswith("prep "))
    assert "3/4 75%" in prep and "0.5/1" in prep and "1,100" in prep and "188" in prep and "$0.0200" in prep
    assert "unknown" in next(line for line in lines if line.startswith("train "))
    assert sum("published: " in line and "their " in line for line in lines) == 3
    assert "arXiv:2501.12420" in table and "another pipeline" in table
    build = next(line for line in lines if "build error" in line)
    assert "undefined reference to `predict'" in build and build.endswith("…")
    no_runs = text_table(stage_rows(records[2:]), SETTINGS).splitlines()
    assert any(line.startswith("deploy") and "not reached" in line for line in no_runs)


def test_markdown_table_has_one_row_per_stage_with_the_published_column(rows):
    table = markdown_table(rows, SETTINGS)
    table_lines = [line for line in table.splitlines() if line.startswith("|")]
    header, separator, *body = table_lines
    width = header.count(" | ")
    assert "Published" in header and set(separator) <= set("|:-")
    assert [line.split(" | ")[0] for line in body] == [f"| {name}" for name in STAGES]
    assert all(line.replace("\\|", "").count(" | ") == width for line in body)
    prep, train, _, deploy = body
    assert "3/4 (75%)" in prep and "90%" in prep and "data processing" in prep
    assert train.endswith("| — |") and "sketch compile" in deploy
    assert "arXiv:2501.12420" in table


class PageParser(HTMLParser):
    """Collects what the report test asks of the page: unclosed tags, scripts, svg count, mark titles per svg."""

    VOID = {"meta", "br", "hr", "img", "input", "link", "line", "circle", "rect", "path"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.mismatched: list[str] = []
        self.scripts = 0
        self.svg_titles: list[list[str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        if tag == "svg":
            self.svg_titles.append([])
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.open or self.open[-1] != tag:
            self.mismatched.append(tag)
        else:
            self.open.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self.open and self.open[-1] == "title" and "svg" in self.open:
            self.svg_titles[-1].append(data)


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    assert parser.mismatched == [] and parser.open == []
    return parser


def test_html_report_is_one_page_with_a_plot_per_stage(records, rows):
    page = html_report(records, rows, SETTINGS)
    parsed = parse(page)
    assert parsed.scripts == 0 and "http" not in page.replace("http://www.w3.org/2000/svg", "").replace(
        SETTINGS["api_base"], "")  # nothing fetched
    assert len(parsed.svg_titles) == len(STAGES)
    marks = [[title for title in titles if title.startswith("run ")] for titles in parsed.svg_titles]
    assert [len(stage_marks) for stage_marks in marks] == [row.n for row in rows]
    assert any("02_keyword_spotting #2): runtime error" in title for title in marks[1])
    assert "tokens of the ask" in page and "95% interval" in page


def test_html_report_escapes_what_the_model_wrote(records, rows):
    page = html_report(records, rows, SETTINGS)
    parsed = parse(page)
    assert INJECTED not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert any(INJECTED in text for text in parsed.text)  # the reader sees the line as it was


def test_html_report_opens_with_stages_no_run_reached(records):
    for chosen in ([], records[2:]):
        rows = stage_rows(chosen)
        parsed = parse(html_report(chosen, rows, SETTINGS))
        assert len(parsed.svg_titles) == len(STAGES)
        assert "".join(parsed.text).count("not reached") >= sum(not row.reached for row in rows)


def test_results_json_reads_back_into_the_same_records(records, rows):
    data = json.loads(json.dumps(results_json(records, rows, SETTINGS)))
    assert data["settings"] == SETTINGS
    assert [RunRecord.from_json(run) for run in data["runs"]] == records
    assert [row["stage"] for row in data["stages"]] == list(STAGES)
    assert data["stages"][0]["ci"] == list(wilson(3, 4)) and data["stages"][0]["failures"] == {"no_code": 1}
    assert data["stages"][1]["published"] is None and data["stages"][3]["published"]["success_rate"] == 0.37
    assert data["published"]["source"] == PUBLISHED_SOURCE
    assert data["published"]["stages"]["convert"] == {"their_stage": "model conversion", "success_rate": 1.0,
                                                      "seconds": 6.1, "tokens": 690, "runs": 30}
