"""What a request asks the offline recipes for, as data: epochs, batch, split, columns, layers, quantization, board.

The recipes write standard code; a person's words ("one dense layer, 10 epochs", a Regenerate note "no
convolutions") adjust it. `read` finds those wishes with plain regular expressions (number words one..ten
included) in the request and in the reviewer's note, the note winning where both say something. Each finding
marks the stretch of text it consumed, so `unused_notice` can say in one line which clauses no extractor read —
the parts a configured model would have to honour — without flagging filler ("please", "train a small model")
or clauses that only name the notebook's data.

Pure functions over text: no I/O, no NLP library, every pattern linear in the request's length.
"""
from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Callable

from ..boards import catalogue
from ..errors import WishOutOfRangeError
from .data_kinds import csv_path_in_request, requested_kind

# StageRequest.prompt joins a Regenerate note to the request with this line (request.py).
NOTE_MARKER = "Reviewer's note on the previous answer:"

DENSE, CNN, CONV1D = "dense", "cnn", "conv1d"
QUANTIZATION_MODES = ("int8", "int8-float-io", "dynamic", "float16", "none")

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "single": 1, "a single": 1, "a": 1, "an": 1, "zero": 0, "no": 0}
_COUNT = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten|zero|a single|single|an?|no)"
_NUMBER = r"(\d+(?:\.\d+)?(?:e-?\d+)?|\.\d+)"
_SHARE = _NUMBER + r"\s*(%|percent\b)?"
# A column name: quoted (may hold spaces), or one word that is not a verb starting the next clause.
_NAME = (r"""(?:['"`][^'"`\n]+['"`]|(?!(?:and|then|train|keep|use|split|with|for|predict|drop|the|a|an|to|in|on|of"""
         r"""|it|which|what)\b)[\w.()-]+)""")
_NAMES = _NAME + r"(?:\s*(?:,\s*and|,|and)\s*" + _NAME + r")*"
_QUANTISE = r"(?:\s+quanti[sz]\w*)?"


def _count(text: str) -> int:
    return int(text) if text.isdigit() else _NUMBER_WORDS[text.lower()]


def _share(match: re.Match[str]) -> float:
    """"20%", "20 percent", "0.2", "20" -> 0.2: a bare number of 1 or more is read as a percentage."""
    value = float(match[1])
    return value / 100 if match[2] or value >= 1 else value


def _rate(match: re.Match[str]) -> float:
    """A rate written as a fraction ("dropout 0.2") or a percentage ("20% dropout"); a bare 1.5 stays 1.5."""
    value = float(match[1])
    return value / 100 if match[2] else value


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip("'\"`") for name in re.findall(_NAME, re.sub(r"\band\b", ",", text)))


@dataclass(frozen=True)
class _Extractor:
    """One way of writing one wish: `pattern` found in the text, `value` read from its match."""

    field: str
    pattern: re.Pattern[str]
    value: Callable[[re.Match[str]], object]


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _const(value: object) -> Callable[[re.Match[str]], object]:
    return lambda _match: value


# Order matters where two could read the same words: the first consumes them ("no convolutions" is dense,
# "label column colour" is the label, not a feature list).
_EXTRACTORS: tuple[_Extractor, ...] = (
    _Extractor("epochs", _rx(rf"\b{_COUNT}\s+epochs?\b"), lambda m: _count(m[1])),
    _Extractor("epochs", _rx(r"\bepochs?\s*(?:[:=]|of|to|is)?\s*(\d+|one|two|three|four|five|six|seven|eight|nine"
                             r"|ten)\b"), lambda m: _count(m[1])),
    _Extractor("batch_size", _rx(r"\b(?:mini-?)?batch(?:[ _-]?size)?\s*(?:[:=]|of|to|is)?\s*(\d+)\b"),
               lambda m: int(m[1])),
    _Extractor("batch_size", _rx(r"\bbatches\s+of\s+(\d+)\b|\b(\d+)\s+(?:samples\s+)?per\s+batch\b"),
               lambda m: int(m[1] or m[2])),
    _Extractor("learning_rate", _rx(rf"\b(?:learning[ _-]?rate|lr)\s*(?:[:=]|of|to|is)?\s*{_NUMBER}"),
               lambda m: float(m[1])),
    _Extractor("validation_split", _rx(rf"\b(?:keep|hold(?:\s+out)?|set\s+aside|use|reserve)\s+{_SHARE}\s+"
                                       r"(?:of\s+\w+\s+)?(?:for|as)\s+(?:the\s+)?validation(?:\s+(?:set|split|data))?"),
               _share),
    _Extractor("validation_split", _rx(rf"\b(?:validation|val)(?:[ _-]?(?:split|size|set|fraction|share))?\s*"
                                       rf"(?:[:=]|of|to|is)?\s*{_SHARE}"), _share),
    _Extractor("validation_split", _rx(rf"\b{_SHARE}\s+(?:for\s+)?(?:the\s+)?validation(?:\s+(?:set|split|data))?"),
               _share),
    _Extractor("test_split", _rx(rf"\b(?:keep|hold(?:\s+out)?|set\s+aside|use|reserve)\s+{_SHARE}\s+"
                                 r"(?:of\s+\w+\s+)?(?:for|as)\s+(?:the\s+)?test(?:ing|s)?(?:\s+(?:set|split|data))?"),
               _share),
    _Extractor("test_split", _rx(rf"\btest(?:ing)?(?:[ _-]?(?:split|size|set|fraction|share))?\s*"
                                 rf"(?:[:=]|of|to|is)?\s*{_SHARE}"), _share),
    _Extractor("test_split", _rx(rf"\b{_SHARE}\s+(?:for\s+)?(?:the\s+)?test(?:ing|s)?(?:\s+(?:set|split|data))?"),
               _share),
    _Extractor("test_split", _rx(r"\b(\d{1,2})\s*/\s*(\d{1,2})(?:\s+(?:train\s*/\s*test\s+)?split)?\b"),
               lambda m: int(m[2]) / 100 if int(m[1]) + int(m[2]) == 100 else float(m[2]) / 100),
    _Extractor("label_column", _rx(rf"\b(?:label|target|class)\s+column\s*(?:is\s+|=\s*|:\s*|called\s+|named\s+)?"
                                   rf"({_NAME})"), lambda m: _names(m[1])[0]),
    _Extractor("label_column", _rx(rf"\b(?:label|target)s?\s*(?:[:=]|is|are(?:\s+in)?)\s*(?:column\s+)?({_NAME})"),
               lambda m: _names(m[1])[0]),
    _Extractor("feature_columns", _rx(rf"\b(?:use|using|with|from|on)\s+(?:only\s+)?(?:the\s+)?(?:feature\s+)?"
                                      rf"columns?\s*[:=]?\s*({_NAMES})"), lambda m: _names(m[1])),
    _Extractor("feature_columns", _rx(rf"\bfeature\s+columns?\s*(?:[:=]|are)?\s*({_NAMES})"),
               lambda m: _names(m[1])),
    _Extractor("feature_columns", _rx(rf"\bfeatures\s*(?:[:=]|are)\s*({_NAMES})"), lambda m: _names(m[1])),
    # "predict the cultivar": prep's label pick reads the column itself (data_kinds.pick_label_column).
    _Extractor("predicts", _rx(rf"\bpredict(?:s|ing)?\s+(?:the\s+|which\s+)?({_NAME})"), lambda m: m[1]),
    _Extractor("layer_kind", _rx(r"\b(?:no|without|not?\s+any|drop\s+the)\s+(?:conv\w*|cnn)(?:\s+layers?)?\b"),
               _const(DENSE)),
    _Extractor("layer_kind", _rx(r"\b(?:dense[ -]only|only\s+dense(?:\s+layers?)?|mlp|multi-?layer\s+perceptron"
                                 r"|fully[ -]connected(?:\s+(?:network|net))?|dense\s+(?:network|net))\b"),
               _const(DENSE)),
    _Extractor("layer_kind", _rx(r"\bconv[ -]?1d\b|\b1-?d\s+conv\w*(?:\s+(?:network|net))?"), _const(CONV1D)),
    _Extractor("layer_kind", _rx(r"\bcnn\b|\bconvolutional(?:\s+neural)?(?:\s+(?:network|net))?|\bconv[ -]?2d\b"
                                 r"|\bconvnet\b"), _const(CNN)),
    _Extractor("dense_layers", _rx(rf"\b{_COUNT}\s+(?:hidden\s+)?(?:dense|fully[ -]connected)(?:\s+hidden)?\s+"
                                   r"layers?\b"), lambda m: _count(m[1])),
    _Extractor("dense_layers", _rx(rf"\b{_COUNT}\s+hidden\s+layers?\b"), lambda m: _count(m[1])),
    _Extractor("conv_layers", _rx(rf"\b{_COUNT}\s+(?:conv\w*|convolution(?:al)?)\s+(?:layers?|blocks?)\b"),
               lambda m: _count(m[1])),
    _Extractor("units", _rx(r"\b(?:of\s+|with\s+)?(\d+)\s+(?:units|neurons|nodes)(?:\s+each)?\b"),
               lambda m: int(m[1])),
    _Extractor("dropout", _rx(r"\bno\s+dropout\b"), _const(0.0)),
    _Extractor("dropout", _rx(rf"\bdropout\s*(?:rate\s*)?(?:[:=]|of|at|to)?\s*{_SHARE}"), _rate),
    _Extractor("dropout", _rx(rf"\b{_SHARE}\s+dropout\b"), _rate),
    _Extractor("quantization", _rx(r"\bint8\s+(?:with|and)\s+float(?:32)?\s+(?:input|i/o|io)s?"
                                   r"(?:\s*(?:and|/)\s*outputs?)?|\bfloat(?:32)?\s+(?:input|i/o|io)s?"
                                   r"(?:\s*(?:and|/)\s*outputs?)?|\bint8-float-io\b"), _const("int8-float-io")),
    _Extractor("quantization", _rx(r"\b(?:float\s?16|fp16|half[ -]precision)" + _QUANTISE), _const("float16")),
    _Extractor("quantization", _rx(r"\bdynamic(?:[ -]range)?" + _QUANTISE + r"|\bweights?[ -]only" + _QUANTISE),
               _const("dynamic")),
    _Extractor("quantization", _rx(r"\b(?:no|without)\s+quanti[sz]\w*|\bunquanti[sz]ed\b|\bfloat32\s+model\b"),
               _const("none")),
    _Extractor("quantization", _rx(r"\bfull[ -]?integer(?:\s+int8)?" + _QUANTISE + r"|\b(?:full\s+)?int8" + _QUANTISE
                                   + r"\b"), _const("int8")),
    _Extractor("tflite_path", _rx(r"""['"`][^'"`\n]+\.tflite['"`]|[\w~./\\:-]*\w\.tflite\b"""), lambda m: m[0]),
)

# Which stage honours which wish; the rest of the lifecycle is told where to put it.
STAGE_OF_FIELD = {
    "test_split": "prep", "label_column": "prep", "feature_columns": "prep",
    "epochs": "train", "batch_size": "train", "learning_rate": "train", "validation_split": "train",
    "layer_kind": "train", "dense_layers": "train", "conv_layers": "train", "units": "train", "dropout": "train",
    "quantization": "convert", "tflite_path": "convert",
}
# Wishes that describe the whole lifecycle: every stage counts them as heard ("a CNN that fits a Nano 33 BLE").
GENERIC_FIELDS = frozenset({"board", "predicts"})

# Sensible ranges: a wish outside them gets one line saying what works (inclusive bounds).
RANGES: dict[str, tuple[float, float, str]] = {
    "epochs": (1, 1000, "1 to 1000"),
    "batch_size": (1, 4096, "1 to 4096"),
    "learning_rate": (1e-6, 1.0, "between 0.000001 and 1 (Adam's default is 0.001)"),
    "test_split": (0.05, 0.5, "5% to 50% (the recipe's default is 20%)"),
    "validation_split": (0.05, 0.5, "5% to 50% of the training split (the recipe's default is 10%)"),
    "dense_layers": (0, 8, "0 to 8 hidden layers"),
    "conv_layers": (1, 6, "1 to 6 convolution layers"),
    "units": (1, 1024, "1 to 1024 units"),
    "dropout": (0.0, 0.9, "0 to 0.9 (e.g. 0.2 or 20%)"),
}

# Words that carry no wish of their own: filler, and the lifecycle's own vocabulary ("train a small model on
# the data", "convert it for the board"). A clause made only of these, consumed wishes and data names is used.
_GENERIC_WORDS = frozenset("""
a an the and or but then also just only please thanks thank you it its this that these those them they i we me my
our your to for of on in into with without by from as at be is are was were been do does did make makes made use
using used get gets give want wants would like could should can will let lets so very really some any all each
every quick quickly simple simply small smaller tiny little short fast good well best better nice basic standard
default usual normal new again instead up out over here there now first next after before same what which how
data dataset datasets set train training trained trains fit fits fitting model models network networks net nets
neural classifier classifiers classify classifies classification predict predicts prediction predictions
recognise recognize prepare prep preparation preprocess preprocessing process clean split splitting convert
conversion converted export quantize quantise quantized quantised quantization quantisation tflite lite
tensorflow keras deploy deployment deploying flash run runs running device devices board boards microcontroller
microcontrollers mcu arduino firmware sketch project layer layers sample samples feature features label labels
class classes target targets input inputs output outputs accuracy test testing evaluate evaluation check report
save write file keep sense sized size enough serial usb upload verify virtual emulated emulator qemu
""".split())
_WORD = re.compile(r"[\w%]+")
# Clause boundaries: sentence ends (not the dot of 0.2 or model.tflite), ';', ',', ' and ', ' then '.
_CLAUSE_END = re.compile(r"[.!?](?=\s|$)|[;,\n]|\s+(?:and|then)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Clause:
    """One clause of the request as written, the wishes read from it, and its words no extractor consumed."""

    text: str
    fields: frozenset[str]
    leftover: tuple[str, ...]


@dataclass(frozen=True)
class Wishes:
    """The values a request (and its Regenerate note) asks for; None where it says nothing.

    `layer_kind` is DENSE, CNN or CONV1D; shares (`test_split`, `validation_split`, `dropout`) are fractions;
    `board` is a catalogue id. `clauses` keep what each clause gave, for `unused_notice`.
    """

    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    test_split: float | None = None
    validation_split: float | None = None
    label_column: str | None = None
    feature_columns: tuple[str, ...] = ()
    predicts: str | None = None
    layer_kind: str | None = None
    dense_layers: int | None = None
    conv_layers: int | None = None
    units: int | None = None
    dropout: float | None = None
    quantization: str | None = None
    board: str | None = None
    tflite_path: str | None = None
    clauses: tuple[Clause, ...] = field(default=(), compare=False)

    def asked(self, name: str) -> bool:
        """Whether the request said anything about `name` (a field)."""
        return getattr(self, name) not in (None, ())

    def checked(self, *names: str) -> "Wishes":
        """Self, once each named wish that was asked lies in its sensible range; WishOutOfRangeError otherwise."""
        for name in names:
            value = getattr(self, name)
            if value is None or name not in RANGES:
                continue
            low, high, works = RANGES[name]
            if not low <= value <= high:
                raise WishOutOfRangeError(name.replace("_", " "), _shown(name, value), works)
        return self


def _shown(name: str, value: float) -> str:
    if name in ("test_split", "validation_split"):
        return f"{value * 100:g}%"
    return f"{value:g}"


def read(request: str) -> Wishes:
    """The wishes of a request as StageRequest.prompt writes it: the person's words, then (optionally) the
    reviewer's note, whose wishes replace the request's."""
    text, _, note = request.partition(NOTE_MARKER)
    found, clauses = _read_part(text)
    if note.strip():
        from_note, note_clauses = _read_part(note)
        if "layer_kind" in from_note and "conv_layers" in found and from_note["layer_kind"] == DENSE:
            del found["conv_layers"]  # "no convolutions" overrides "3 conv layers"
        found.update(from_note)
        clauses += note_clauses
    return Wishes(**found, clauses=tuple(clauses))


def _read_part(text: str) -> tuple[dict[str, object], list[Clause]]:
    """Values and clauses of one part (request or note): each extractor's first match, read in order, and the
    text it consumed blanked out for the extractors after it (offsets stay the same)."""
    found: dict[str, object] = {}
    spans: list[tuple[int, int, str]] = []
    unread = text

    def consume(start: int, end: int, name: str) -> None:
        nonlocal unread
        spans.append((start, end, name))
        unread = unread[:start] + "\0" * (end - start) + unread[end:]

    for extractor in _EXTRACTORS:
        for match in list(extractor.pattern.finditer(unread)):
            consume(*match.span(), extractor.field)
            found.setdefault(extractor.field, extractor.value(match))
    for board_id, start, end in _board_mentions(unread):
        consume(start, end, "board")
        found.setdefault("board", board_id)
    csv = csv_path_in_request(unread)
    if csv and (at := unread.find(csv)) >= 0:
        consume(at, at + len(csv), "data")
    return found, _clauses(text, spans)


def _clauses(text: str, spans: list[tuple[int, int, str]]) -> list[Clause]:
    clauses, start = [], 0
    # A boundary inside a consumed wish is part of it: "use columns r, g and b" stays one clause.
    ends = [match for match in _CLAUSE_END.finditer(text) if not any(s < match.start() < e for s, e, _ in spans)]
    for end_match in [*ends, None]:
        end = end_match.start() if end_match else len(text)
        if text[start:end].strip():
            fields_here, leftover = set(), []
            for word in _WORD.finditer(text, start, end):
                owners = [name for s, e, name in spans if s <= word.start() < e]
                if owners:
                    fields_here.update(owners)
                else:
                    leftover.append(word[0])
            fields_here.discard("data")
            clauses.append(Clause(text[start:end].strip(), frozenset(fields_here), tuple(leftover)))
        start = end_match.end() if end_match else len(text)
    return clauses


def _board_pattern(name: str) -> str:
    parts = re.findall(r"[a-z0-9]+", name.lower())
    return r"[\s_-]*".join(parts)


def _board_mentions(text: str) -> list[tuple[str, int, int]]:
    """(board id, start, end) of catalogue names and aliases in the text, the longest mention at each place."""
    names = sorted(((board.id, spelled) for board in catalogue()
                    for spelled in (board.name, board.id, *board.aliases)), key=lambda item: -len(item[1]))
    pattern = re.compile("|".join(rf"(?<![\w-])(?P<b{i}>{_board_pattern(spelled)})(?![\w-])"
                                  for i, (_, spelled) in enumerate(names)), re.IGNORECASE)
    return [(names[int(match.lastgroup[1:])][0], *match.span()) for match in pattern.finditer(text)]


def unused_clauses(wishes: Wishes, heard: Collection[str], data_names: Collection[str]) -> list[tuple[str, str]]:
    """(clause, stage that reads it, or "") for every clause this recipe does not use.

    A clause is used when each of its words was consumed by a wish the recipe hears (or a generic one), names the
    notebook's data (a variable, a column, a data kind: "the digit images"), or is filler.
    """
    names = {name.lower() for name in data_names}
    unused = []
    for clause in wishes.clauses:
        content = [word for word in clause.leftover if not _says_nothing(word, names)]
        elsewhere = sorted({STAGE_OF_FIELD[name] for name in clause.fields
                            if name in STAGE_OF_FIELD and name not in heard and name not in GENERIC_FIELDS})
        if content:
            unused.append((clause.text, ""))
        elif elsewhere:
            unused.append((clause.text, elsewhere[0]))
    return unused


def _says_nothing(word: str, names: set[str]) -> bool:
    lowered = word.lower()
    singular = lowered[:-1] if lowered.endswith("s") else lowered
    return (lowered in _GENERIC_WORDS or lowered in names or singular in names or bool(requested_kind(lowered))
            or bool(requested_kind(lowered + "s")))


def unused_notice(wishes: Wishes, heard: Collection[str], data_names: Collection[str]) -> str | None:
    """The one line saying which clauses the offline recipe did not use, or None when it used them all."""
    unused = unused_clauses(wishes, set(heard) | GENERIC_FIELDS, data_names)
    if not unused:
        return None
    groups: dict[str, list[str]] = {}
    for text, stage in unused:
        groups.setdefault(stage, []).append(f'"{text}"')
    parts = [", ".join(quoted) + (f" (%%tinyml_{stage} reads {'it' if len(quoted) == 1 else 'them'})")
             for stage, quoted in groups.items() if stage]
    if "" in groups:  # what no recipe reads goes last, next to the suggestion
        parts.append(", ".join(groups[""]) + " — a configured model can (%tinyml config model=...)")
    return "[tinyml] the offline recipe did not use: " + "; ".join(parts)


def asked_note(wishes: Wishes, name: str, text: str) -> str:
    """`text` with " (asked)" when the request asked for `name`: the recipe's note says which choices were the
    person's."""
    return f"{text} (asked)" if wishes.asked(name) else text

