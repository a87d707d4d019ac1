"""What kind of data a notebook holds, judged from variable summaries and the request text.

Pure functions over `VariableSummary.facts` (no I/O, no imports of numpy or pandas), so the offline prep recipe
can be tested without data. `detect` returns one of:

- `ArrayData`: image arrays (N×H×W or N×H×W×C), time-series windows (N×T×C, or N×T when the request says
  so), or a 2-D feature matrix (N×F),
  each with a label array of length N;
- `TableData`: a DataFrame variable or a CSV file (a path variable, or a path written in the request),
  with the label column to predict.

Nothing recognisable raises `RecipeError` saying what the recipe needs.
"""
from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, field
from typing import Mapping

from ..notebook.context import VariableSummary
from ..errors import RecipeError

IMAGE, TABULAR, TIMESERIES = "image", "tabular", "timeseries"

_WORD = re.compile(r"\w+")
# Words in a request that say which kind of data the person means ("time-series" counts through "time").
_KIND_WORDS = {
    TIMESERIES: frozenset("time series timeseries window windows signal signals sensor sensors accelerometer "
                          "accelerometers imu gesture gestures audio vibration vibrations".split()),
    IMAGE: frozenset("image images pixel pixels picture pictures photo photos camera cameras digit digits".split()),
    TABULAR: frozenset("table tables tabular csv dataframe spreadsheet column columns".split()),
}
# Names people give arrays; they only break ties.
_SAMPLE_NAMES = {"x", "images", "data", "windows", "samples", "features", "inputs", "signals"}
_LABEL_NAMES = {"y", "labels", "label", "target", "targets", "classes", "class", "categories"}
_LABEL_COLUMN_NAMES = ("label", "labels", "target", "class", "species", "category", "y", "outcome", "quality")
# What prep itself produces: re-running prep must not pick its own output as the raw data.
_PREP_OUTPUTS = {"x_train", "x_test", "y_train", "y_test"}
# A keyword right before a column name marks it as the label: "predict species", "label column is 'target'".
_LABEL_CUE = re.compile(
    r"\b(?:predict|predicting|label|target|class|classify|column|output|outcome)\b"
    r"(?:\s+(?:the|is|as|by|column|called|named|to|be))*\s*[:=]?\s*['\"`]?$",
    re.IGNORECASE,
)
NO_DATA_MESSAGE = (
    "The offline recipe found no data: put an image array (N×H×W[×C]) with labels, time-series windows (N×T×C) "
    "with labels, a DataFrame or a CSV path in the notebook, or configure a model with %tinyml config model=..."
)


@dataclass(frozen=True)
class ArrayData:
    """Samples and labels held as arrays. `samples`/`labels` are Python expressions (a name, or `bunch["images"]`)."""

    kind: str  # IMAGE | TIMESERIES | TABULAR (a 2-D feature matrix)
    samples: str
    labels: str
    shape: tuple[int, ...] | None = None  # None when only a mapping's keys are known
    dtype: str | None = None
    max_value: float | None = None
    n_classes: int | None = None


@dataclass(frozen=True)
class TableData:
    """A table: a DataFrame variable (`frame`) or a CSV file (`csv_path`, as written by the person)."""

    label_column: str
    columns: list[str] = field(default_factory=list)
    frame: str | None = None
    csv_path: str | None = None
    shape: tuple[int, ...] | None = None
    kind: str = TABULAR
    features: tuple[str, ...] = ()  # the feature columns the request names; () is every column but the label


def requested_kind(request: str) -> set[str]:
    """The data kinds the request's words point at (empty when it says nothing about the data)."""
    words = _words(request)
    return {kind for kind, kind_words in _KIND_WORDS.items() if not kind_words.isdisjoint(words)}


@functools.lru_cache(maxsize=8)
def _words(request: str) -> frozenset[str]:
    """The request's words (maximal runs of word characters), lower case. Read once per request: detect asks
    for them once per variable."""
    if request.isascii():
        return frozenset(_WORD.findall(request.lower()))
    return frozenset(word.lower() for word in _WORD.findall(request))  # lower() after: it can add characters


def mentions(request: str, name: str) -> bool:
    """True when `name` appears in the request as a whole word (`images`, `df`, but not `images2`)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", request) is not None


# A request is the person's text, or a Regenerate note: every pattern below runs in time linear in its length.
# A quoted path: from each quote the pattern reads only to the next quote or line end, so each character is
# read once by one search.
_QUOTED = re.compile(r"""['"`]([^'"`\n]+\.csv)['"`]""", re.IGNORECASE)
# Maximal runs of the characters a path is written with; a run is read once.
_PATH_RUN = re.compile(r"[\w~./\\:-]+")
_CSV_END = re.compile(r"(?<=\w)\.csv(?!\w)", re.IGNORECASE)


def csv_path_in_request(request: str) -> str | None:
    """A .csv path written in the request ("train on data/iris.csv", "'my data.csv'"), as written: the first
    one, a quoted path whole, a bare one up to its last ".csv".

    Why not one regex: `[\\w./-]*\\w\\.csv` tried from every position of a long run of word characters backtracks
    over the rest of the run each time (40k characters took 37 s); quoted stretches and path runs are found
    once each here, and only the runs are searched for ".csv".
    """
    quoted = _QUOTED.search(request)
    first = _CSV_END.search(request)
    if first is None:
        return quoted[1] if quoted else None
    # The run of path characters around the first bare ".csv": backwards from it (a reversed copy, read by the
    # same pattern), then forwards; the path ends at the run's last ".csv".
    start = first.start() - len(_PATH_RUN.match(request[first.start() - 1 :: -1])[0])
    if quoted and quoted.start() < start:
        return quoted[1]
    run = _PATH_RUN.match(request, start)[0]
    *_, last = _CSV_END.finditer(run)
    return run[: last.end()]


def image_or_timeseries(shape: tuple[int, ...], request: str) -> str:
    """Decide whether an N×A×B array holds images (N×H×W) or time-series windows (N×T×C).

    The request's words decide first; else the shape: square frames are images, and a short last axis
    (≤ 16 channels) much shorter than the middle one (T ≥ 4×C) means windows of sensor channels.
    """
    kinds = requested_kind(request) & {IMAGE, TIMESERIES}
    if len(kinds) == 1:
        return kinds.pop()
    _, a, b = shape
    if a != b and b <= 16 and a >= 4 * b:
        return TIMESERIES
    return IMAGE


def pick_label_column(request: str, columns: list[str], candidates: list[str] | None = None) -> str:
    """The column to predict: named in the request (best right after "predict"/"label"/"target"), else the
    summary's first label candidate, else a conventional name (label, target, class, ...), else the last column."""
    best, best_score = None, 0
    words = _words(request)
    for column in columns:
        if not _may_mention(column, words):
            continue
        found = re.finditer(rf"(?<!\w){re.escape(column)}(?!\w)", request, re.IGNORECASE)
        for match in itertools.islice(found, _MAX_MENTIONS):
            cue = _LABEL_CUE.search(request[max(0, match.start() - _CUE_WINDOW) : match.start()])
            score = 5 + (5 if cue else 0)
            if score > best_score:
                best, best_score = column, score
    if best is not None:
        return best
    for candidate in candidates or []:
        if candidate in columns:
            return candidate
    lowered = {c.lower(): c for c in columns}
    for name in _LABEL_COLUMN_NAMES:
        if name in lowered:
            return lowered[name]
    if not columns:
        raise RecipeError("The table has no columns the recipe can read; check the CSV header or the DataFrame.")
    return columns[-1]


# The cue ("predict", "label column is") sits right before the column name: this many characters are enough,
# and searching only them keeps a long request from costing its length once per column mention.
_CUE_WINDOW = 80
# A column named a thousand times is judged by its first mentions (a name the person means comes early).
_MAX_MENTIONS = 20


def _may_mention(column: str, words: frozenset[str]) -> bool:
    """False when the request cannot name `column`: one of its words is missing from the request's words.
    Skips the per-column regex for the other 9,999 columns of a wide table."""
    return all(word.lower() in words for word in _WORD.findall(column))


def _named_columns(request: str, columns: list[str], most: int = 3) -> int:
    """How many of the table's columns the request names (counting to `most`: a few decide)."""
    words = _words(request)
    named = 0
    for column in columns:
        if _may_mention(column, words) and re.search(rf"(?<!\w){re.escape(column)}(?!\w)", request, re.IGNORECASE):
            named += 1
            if named == most:
                break
    return named


def _few_values(n_unique: int | None, n: int) -> bool:
    return n_unique is not None and n_unique <= max(2, min(256, n // 2))


def _label_score(summary: VariableSummary, n: int, request: str) -> float | None:
    """How well `summary` fits as the labels of n samples; None when it cannot be labels."""
    facts = summary.facts
    if summary.kind == "ndarray":
        if tuple(facts.get("shape", ())) != (n,):
            return None
        integer, few = bool(facts.get("is_integer")), _few_values(facts.get("n_unique"), n)
        if not (integer or few):
            return None  # continuous values are a regression target, not classes
        score = 2.0 * integer + 2.0 * few
    elif summary.kind == "series":
        if facts.get("length") != n or not _few_values(facts.get("n_unique"), n):
            return None
        score = 2.0
    elif summary.kind == "sequence":
        if facts.get("length") != n:
            return None
        score = 0.5  # a list of labels: length matches, contents unknown
    else:
        return None
    if summary.name.lower() in _LABEL_NAMES or summary.name.lower().startswith(("y_", "label")):
        score += 1
    if summary.name in _PREP_OUTPUTS:
        score -= 3
    if mentions(request, summary.name):
        score += 10
    return score


def pick_labels(variables: Mapping[str, VariableSummary], n: int, request: str, exclude: str = "") -> str | None:
    """The name of the best label array for n samples: 1-D, length n, integer or few distinct values."""
    scored = [
        (score, name)
        for name, summary in variables.items()
        if name != exclude and (score := _label_score(summary, n, request)) is not None
    ]
    return max(scored, key=lambda item: item[0])[1] if scored else None


def _array_kind(facts: dict, request: str) -> str | None:
    shape = tuple(facts.get("shape", ()))
    dtype = str(facts.get("dtype", ""))
    if not re.match(r"u?int|float|bool", dtype) or not shape or shape[0] < 2:
        return None
    if len(shape) == 4 and 1 <= shape[3] <= 4:
        return IMAGE
    if len(shape) == 3:
        return image_or_timeseries(shape, request)
    if len(shape) == 2 and shape[1] >= 1:
        # N×T with words like "signal" or "accelerometer": single-channel windows, else a feature matrix.
        return TIMESERIES if requested_kind(request) & {TIMESERIES, TABULAR} == {TIMESERIES} else TABULAR
    return None


def _candidates(variables: Mapping[str, VariableSummary], request: str) -> list[tuple[float, ArrayData | TableData]]:
    """Every dataset the namespace holds, with a score: named in the request beats kind words beats names."""
    wanted = requested_kind(request)
    found: list[tuple[float, ArrayData | TableData]] = []
    for name, summary in variables.items():
        facts, data, score = summary.facts, None, 1.0
        if summary.kind == "ndarray" and (kind := _array_kind(facts, request)):
            shape = tuple(facts["shape"])
            labels = pick_labels(variables, shape[0], request, exclude=name)
            if labels is None:
                continue
            n_classes = variables[labels].facts.get("n_unique")
            data = ArrayData(kind, name, labels, shape, str(facts.get("dtype")), facts.get("max"), n_classes)
            score += 0.5 * (name.lower() in _SAMPLE_NAMES) + 2 * mentions(request, labels)
            score -= 0.5 * (kind == TABULAR)  # a 2-D array is often something else (embeddings, a mask)
        elif summary.kind == "mapping" and {"images", "target"} <= set(facts.get("keys") or ()):
            # A scikit-learn Bunch such as load_digits(): its arrays are reachable by key.
            shape = (facts.get("shapes") or {}).get("images")
            data = ArrayData(IMAGE, f'{name}["images"]', f'{name}["target"]', tuple(shape) if shape else None)
            score -= 0.25  # arrays already unpacked into variables are more specific
        elif summary.kind == "dataframe" and facts.get("columns"):
            columns = [str(c) for c in facts["columns"]]
            label = pick_label_column(request, columns, facts.get("label_candidates"))
            data = TableData(label, columns, frame=name, shape=tuple(facts.get("shape", ())) or None)
            score += 3 * _named_columns(request, columns)  # "label column colour, use columns r, g, b"
        elif summary.kind == "path" and str(facts.get("suffix", "")).lower() == ".csv" and facts.get("columns"):
            columns = [str(c) for c in facts["columns"]]
            label = pick_label_column(request, columns)
            data = TableData(label, columns, csv_path=str(facts.get("path")))
            score -= 0.2
        if data is None:
            continue
        if name in _PREP_OUTPUTS:
            score -= 5
        if mentions(request, name):
            score += 10
        if data.kind in wanted:
            score += 5
        found.append((score, data))
    return found


def detect(
    request: str,
    variables: Mapping[str, VariableSummary],
    request_csv: tuple[str, list[str]] | None = None,
) -> ArrayData | TableData:
    """The dataset prep should use.

    request_csv: a CSV path written in the request (as written) with its header row, read by the caller;
    naming a file outranks everything the namespace holds.
    """
    if request_csv is not None:
        path, columns = request_csv
        return TableData(pick_label_column(request, columns), list(columns), csv_path=path)
    found = _candidates(variables, request)
    if not found:
        raise RecipeError(NO_DATA_MESSAGE)
    # max() keeps the first of equal scores, so ties go to the variable the context ranks as more relevant.
    return max(found, key=lambda item: item[0])[1]
