"""The secret filter: which variables and which literals must never reach a prompt.

Why a module of its own: every path to the model (variable summaries, recent cells, the last error, the request
and a reviewer's note) goes through `is_secret` and `redact`, and the stages pass the whole rendered prompt
through `redact_prompt` once more, so the rules must be readable and testable on their own. It imports nothing
but the standard library, and nothing from the summaries, so anything may use it without a cycle.

Two kinds of rule: *shapes* (a value that looks like a key whatever it is called: provider prefixes, PEM blocks,
random runs of 32+ characters, credentials inside URLs, webhook URLs, bearer tokens) and *names* (a literal bound
to a name that says secret, in any form Python, IPython and a shell let one write it). Every pattern is linear
in the text: bounded repetitions and no nested unbounded quantifiers.
"""
from __future__ import annotations

import math
import re
from typing import Any

REDACTED = "<redacted>"

# Whole words of a variable name (split on "_" and camelCase) that mark a secret. Words, not substrings:
# `tokenizer`, `author`, `keys` and `monkey` are ordinary ML names.
_SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "password", "passwd", "pwd", "secret", "secrets", "credential", "credentials",
     "cred", "creds", "auth", "authorization", "bearer", "passphrase", "cookie"}
)
# Words that say secret only at the end of a name: `db_pw` and `user_pass` are, `pw_conv` (a pointwise
# convolution) and `forward_pass` are not; in an all-caps name (`DB_PASS_2`, an environment variable) anywhere.
_TAIL_WORDS = frozenset({"pw", "pass"})
_PASS_OWNERS = frozenset(
    {"db", "user", "admin", "root", "mail", "smtp", "ftp", "login", "wifi", "sql", "mysql", "pg", "postgres",
     "redis", "mongo", "app", "my", "email", "proxy", "ssh", "vpn", "account", "the"}
)
# Substrings that mark a secret wherever they appear in a name (`dbpassword`, `client_secret_x`).
_SECRET_PARTS = ("api_key", "apikey", "password", "passwd", "secret", "credential", "access_token", "private_key")

# Key formats of common providers, matched even when a preview cut them short (`'sk-proj-4fQ...`). The
# look-behind keeps `disk-...` or `mask-...` from matching `sk-`; _random_tail keeps `hf_datasets` or `sk-learn`.
_KEY_PATTERN = re.compile(
    r"(?<![A-Za-z0-9_])(?:"
    r"(?:sk|rk|pk)[-_](?:ant-|proj-|live_|test_|live-|test-)?[A-Za-z0-9_\-]{6,}"  # OpenAI, Anthropic, Stripe
    r"|gh[pousr]_[A-Za-z0-9]{8,}|github_pat_[A-Za-z0-9_]{8,}"  # GitHub
    r"|xox[abposr]-[A-Za-z0-9\-]{8,}|xapp-[A-Za-z0-9\-]{8,}"  # Slack
    r"|(?:AKIA|ASIA)[0-9A-Z]{8,}"  # AWS access key id
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{4,}(?:\.[A-Za-z0-9_\-]*)?"  # JWT
    r"|hf_[A-Za-z0-9]{8,}|AIza[0-9A-Za-z_\-]{12,}|gsk_[A-Za-z0-9]{8,}|glpat-[A-Za-z0-9_\-]{8,}"
    r"|npm_[A-Za-z0-9]{12,}|pypi-[A-Za-z0-9_\-]{12,}|SG\.[A-Za-z0-9_\-]{8,}"
    r")"
)
_RUN_CHARS = r"A-Za-z0-9_\-+/="
_LONG_TOKEN = re.compile(rf"(?<![{_RUN_CHARS}])[{_RUN_CHARS}]{{32,}}(?![{_RUN_CHARS}])")
_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,60})-----")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=\s\\:,.\-]*")  # base64, line breaks (also as `\n` in a repr), headers
# scheme://user:password@host, also with an empty user (redis://:pw@host) and an `@` inside the password.
_URL_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s/:@'\"]{0,100}:)[^\s/'\"]{1,200}@")
# user:password@host without a scheme, as a driver's connection error prints it.
_BARE_CREDENTIALS = re.compile(
    r"(?<![\w/:.@%+\-])(?P<head>[A-Za-z0-9._%+\-]{1,64}:)[^\s/'\"\[\](){}<>]{1,200}"
    r"@(?=[A-Za-z0-9][A-Za-z0-9\-]{0,62}(?:\.[A-Za-z0-9\-]{1,63}){0,10}\b)"
)
_URL = re.compile(r"https?://[A-Za-z0-9.\-]{1,253}(?::\d{1,5})?(?P<rest>[/?][^\s'\"<>`]{0,2000})?")
_QUERY_PARAMETER = re.compile(r"(?P<head>[?&;](?P<name>[A-Za-z_][\w.\-]{0,60})=)(?P<value>[^&#;\s'\"]+)")
_BEARER = re.compile(r"(?i)(?<![A-Za-z])(?P<head>bearer\s{1,5})[A-Za-z0-9._~+/\-]{6,}=*")
# Unquoted values: `--password=x` or `--password x` (a command line), `DB_PASS=x` (an environment line),
# `X-Api-Key: x` (a header). Python code writes none of these forms for an ordinary value.
_OPTION = re.compile(
    r"(?P<head>(?<![\w\-])--?(?P<name>[A-Za-z][\w\-]{0,60})(?:=|[ \t]{1,5}(?=[^\s\-])))(?P<value>[^\s'\"]+)"
)
# `password=hunter2` in prose, a note, a log line or keyword arguments: the value unless it is a call or an
# index (`api_key=load_key()` keeps its code; a plain name after a secret name goes, which costs nothing).
_KEYWORD_VALUE = re.compile(
    r"(?P<head>(?<![\w.\-])(?P<name>[A-Za-z_][\w\-]{0,60})[ \t]{0,3}=(?!=)[ \t]{0,3})"
    r"(?P<value>(?>[^\s'\"(),\[\]{}<>=&;#]{1,400}))(?![(\[])"  # atomic: no backtracking into the value
)
_ENV_ASSIGNMENT = re.compile(r"(?P<head>(?<![\w.])(?P<name>[A-Z][A-Z0-9_]{1,60})=)(?P<value>[^\s'\"=][^\s'\"]*)")
_HEADER = re.compile(
    r"(?P<head>(?<![\w\-])(?P<name>[A-Za-z][A-Za-z0-9]{0,30}(?:-[A-Za-z0-9]{1,30}){1,4}):[ \t]{0,5})"
    r"(?P<value>[^\s'\"]+)"
)
# `%env NAME value`, `%set_env NAME value`, `export NAME=value`: the word after a secret name is its value.
_ENV_COMMAND = re.compile(
    r"(?m)^(?P<head>[ \t]*(?:%env|%set_env|export|set)[ \t]{1,10}(?P<name>[A-Za-z_]\w{0,60})[ \t]{1,10})(?P<value>\S+)"
)
# A string literal assigned to, passed as or keyed by a name, on one line: `api_key="..."`,
# `db_password: str = '...'`, `{"password": "..."}`. The fallback after the literal scanner (_redact_literals):
# a stray apostrophe in prose can mislead the scanner, never this.
_NAMED_LITERAL = re.compile(
    r"""(?P<lhs>(?<!\w)(?P<name>[A-Za-z_]\w{0,60})['"]?\]?\s{0,5}"""
    r"""(?::[ \t]{0,5}[\w.\[\], |]{1,40}?[ \t]{0,5}=(?!=)|:|=(?!=))"""
    r"""\s{0,5}[rbfuRBFU]{0,2})(?P<quote>["'])(?P<value>[^"'\n]*)(?P=quote)"""
)
SECRET_SCAN_CHARS = 4096  # is_secret reads at most this much of a string value
# redact_prompt's bound: a prompt is a few KB; past a megabyte the rest is cut off (never sent unscanned).
PROMPT_SCAN_CHARS = 1_000_000


def is_secret(name: str, value: Any) -> bool:
    """True when the variable must never reach a prompt: its name or its (string) value looks like a secret.

    Names: words such as key, token, password, passwd, secret, credential, api_key, auth (OPENAI_API_KEY,
    my_token, db_password, apiKey, DB_PASS). Values: provider key formats (sk-, ghp_, xoxb-, AKIA..., JWTs, hf_),
    PEM blocks, credentials in URLs, webhook URLs, and long random-looking runs of 32+ characters. Only the first
    4 KB of a string is read.
    """
    if name and _secret_name(name):
        return True
    if isinstance(value, str):
        return _contains_key(value[:SECRET_SCAN_CHARS])
    if isinstance(value, (bytes, bytearray)) and len(value) <= SECRET_SCAN_CHARS and not is_tflite_bytes(value):
        return _contains_key(bytes(value).decode("latin-1"))
    return False


def is_secret_name(name: str) -> bool:
    """True when a name (a variable, a column, a dict key, a Series' name) says it holds a secret."""
    return _secret_name(name)


def redact(text: str) -> str:
    """`text` with every secret replaced by <redacted>: literals bound to secret names (in code, a shell line,
    `%env`, a URL query), key-shaped values, PEM blocks, credentials in URLs and webhook paths. Names, numbers,
    paths and ordinary words stay."""
    text = _redact_pem(text)
    lowered = text.lower()
    if any(hint in lowered for hint in _SECRET_HINTS):  # the rules by name need a secret name somewhere
        text = _redact_literals(text)
        text = _NAMED_LITERAL.sub(_blank_secret_literal, text)
        text = _redact_shell_lines(text)
        for pattern in (_OPTION, _KEYWORD_VALUE, _ENV_ASSIGNMENT, _HEADER, _ENV_COMMAND, _QUERY_PARAMETER):
            text = pattern.sub(_blank_named_value, text)
    text = _URL.sub(_blank_url, text)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['head']}{REDACTED}@", text)
    text = _BARE_CREDENTIALS.sub(lambda m: f"{m['head']}{REDACTED}@", text)
    text = _BEARER.sub(lambda m: f"{m['head']}{REDACTED}", text)
    text = _KEY_PATTERN.sub(lambda m: REDACTED if _random_tail(m[0]) else m[0], text)
    return _LONG_TOKEN.sub(lambda m: REDACTED if _looks_random(m[0]) else m[0], text)


def redact_prompt(text: str) -> str:
    """The last pass over a whole prompt before it leaves the kernel (the stages' build_messages): the same rules
    as `redact`, over everything at once, so a secret that came in by any path (a failing cell, a note, a
    traceback) is caught even where the capture did not look. Text past PROMPT_SCAN_CHARS is cut off: what is
    sent is always what was scanned."""
    return redact(text[:PROMPT_SCAN_CHARS])


# --- literals in code ----------------------------------------------------------------------------------------

# What the literal scanner stops at: a comment, a string opening, a run of brackets. A plain alternation of
# literals and sets, which the regex engine skips to quickly (a string prefix such as r or f is copied as text).
_CODE_TOKEN = re.compile(r"""#[^\n]*|'''|\"\"\"|['"]|[\[\](){}]+""")
_STRING_END = {
    "'": re.compile(r"(?:[^'\\\n]|\\.)*'"),
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"'),
    "'''": re.compile(r"(?:[^'\\]|\\.|'(?!''))*'''", re.S),
    '"""': re.compile(r'(?:[^"\\]|\\.|"(?!""))*"""', re.S),
}
STATEMENT_CHARS = 2000  # a statement reaches back at most this far; past it only a literal's own line counts
# The start of a statement that binds secrets: `password = ...`, `cfg.api_key: str = ...`,
# `os.environ["DB_PASS"] = ...`, `user, password = ...`, `keyring.set_password(...`; a traceback's
# `----> 3 ` in front is allowed.
_STATEMENT_TARGET = re.compile(
    r"""[ \t]{0,40}(?:-{0,8}>?[ \t]{0,4}\d{1,6}[ \t]{1,4})?"""
    r"""(?P<target>[A-Za-z_][\w.]{0,100}(?:\[[^\]\n=]{0,100}\])?(?:[ \t]{0,3},[ \t]{0,3}[A-Za-z_][\w.]{0,60}){0,5})"""
    r"""[ \t]{0,5}(?::[^=\n]{0,60}=(?!=)|=(?!=)|\()"""
)
# A literal right after `name =`, `name:`, `name: type =`, `name(` or `--name `.
_BOUND_BEFORE = re.compile(
    r"(?:(?P<name>[A-Za-z_][\w\-]{0,60})\s{0,5}(?::[^=\n]{0,60}=(?!=)|=(?!=)|:|\()"
    r"|--?(?P<option>[A-Za-z][\w\-]{0,60})[ =])"
    r"\s{0,5}\Z"
)
# Between a literal holding a secret name and its value: `"password": "..."`, `("password", "...")`,
# `os.environ["DB_PASS"] = "..."`.
_KEY_VALUE_GAP = re.compile(r"\s{0,5}(?:\]\s{0,5}=|[:,=])\s{0,5}\Z")
_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


def _redact_literals(text: str) -> str:
    """Blank string literals bound to a secret: assigned to a secret-named target (every literal of that
    statement, so `pairs = [("me", "pw")]` named `credentials` and a whole triple-quoted string go), passed as a
    secret-named argument, or following a secret-named key. One walk over comments, strings and brackets as
    Python's tokenizer sees them; a statement starts at the line where its first bracket opened."""
    out: list[str] = []
    position = search_from = depth = 0  # position: copied up to here; search_from: read up to here
    opened_at = 0  # the line start of the statement whose bracket is still open (depth > 0)
    statements: dict[int, int] = {}  # statement start -> where its secret values start (-1: not secret)
    previous: tuple[int, str] | None = None  # end and content of the last literal
    while (match := _CODE_TOKEN.search(text, search_from)) is not None:
        search_from, token = match.end(), match[0]
        if token[0] == "#":
            continue
        if token[0] not in "'\"":  # a run of brackets
            if depth == 0:
                opened_at = _line_start(text, match.start())
            opens = token.count("(") + token.count("[") + token.count("{")
            depth = max(0, depth + 2 * opens - len(token))
            continue
        quote = token
        body_start = match.end()
        end_match = _STRING_END[quote].match(text, body_start)
        if end_match:
            body_end, literal_end = end_match.end() - len(quote), end_match.end()
        else:  # unterminated: a one-line string ends at the line, a triple-quoted one at the text's end
            newline = text.find("\n", body_start)
            body_end = literal_end = len(text) if len(quote) == 3 or newline < 0 else newline
        content = text[body_start:body_end]
        secret = False
        if content and content != REDACTED:
            near = depth > 0 and match.start() - opened_at <= STATEMENT_CHARS
            start = opened_at if near else _line_start(text, match.start())
            if start not in statements:
                statements[start] = _secret_statement(text, start)
            values_from = statements[start]
            secret = 0 <= values_from <= match.start() or _bound_to_secret(text, match.start(), previous)
        if secret:
            out.append(text[position:body_start] + REDACTED + text[body_end:literal_end])
        else:
            out.append(text[position:literal_end])
        previous = (literal_end, "" if secret else content)  # a blanked value is no key for the next literal
        position = search_from = literal_end
    out.append(text[position:])
    return "".join(out)


def _line_start(text: str, at: int) -> int:
    """Where the line holding `at` starts, looking back at most STATEMENT_CHARS (-1 when it is further: a
    position no statement starts at)."""
    if at <= STATEMENT_CHARS:
        return text.rfind("\n", 0, at) + 1
    newline = text.rfind("\n", at - STATEMENT_CHARS, at)
    return newline + 1 if newline >= 0 else -1


def _secret_statement(text: str, start: int) -> int:
    """Where the values start when the statement at `start` binds a secret-named target (the literals of the
    target itself, `os.environ["DB_PASS"]`, stay); -1 otherwise."""
    if start < 0:
        return -1
    match = _STATEMENT_TARGET.match(text, start)
    secret = bool(match) and any(_secret_name(word) for word in _WORDS.findall(match["target"]))
    return match.end() if secret else -1


def _bound_to_secret(text: str, start: int, previous: tuple[int, str] | None) -> bool:
    if previous and start - previous[0] <= 20 and len(previous[1]) <= 60 and _secret_name(previous[1]):
        if _KEY_VALUE_GAP.search(text, previous[0], start):
            return True
    window = text[max(previous[0] if previous else 0, start - 100) : start]
    lowered = window.lower()
    if not any(hint in lowered for hint in _SECRET_HINTS):  # most literals: no regex needed
        return False
    before = _BOUND_BEFORE.search(window)
    return bool(before) and _secret_name(before["name"] or before["option"])


def _blank_secret_literal(match: re.Match) -> str:
    if not _secret_name(match["name"]) or match["value"] in ("", REDACTED):
        return match[0]
    return f"{match['lhs']}{match['quote']}{REDACTED}{match['quote']}"


# --- values without quotes -----------------------------------------------------------------------------------

# A shell line: `!cmd`, `%sx`/`%system`, `x = !cmd` (a traceback's `----> 3 ` in front allowed).
_SHELL_LINE = re.compile(
    r"(?m)^[ \t]*(?:-{0,8}>?[ \t]{0,4}\d{1,6}[ \t]{1,4})?"
    r"(?:!|%%?(?:sx|system|bash|sh)\b|[\w.]{1,60}[ \t]{0,3}=[ \t]{0,3}!).*$"
)


# A word of a shell line and the word after it (looked ahead, so every word is tried as the first of a pair).
_SHELL_PAIR = re.compile(r"(?<!\S)(?P<word>[^\s=]{1,80})(?=[ \t]{1,10}(?P<value>[^\s\-|>&;]\S{0,400}))")


def _redact_shell_lines(text: str) -> str:
    """In a `!command` line, the word after a secret-named word (`--password hunter2`, `-u user:pw`)."""
    return _SHELL_LINE.sub(lambda m: _redact_shell_words(m[0]), text)


def _redact_shell_words(line: str) -> str:
    out, position = [], 0
    for pair in _SHELL_PAIR.finditer(line):
        word, value = pair["word"].lstrip("!-").strip("'\""), pair["value"]
        start, end = pair.span("value")
        if start < position or value == REDACTED:
            continue
        if word in ("u", "user") and ":" in value:  # curl -u user:password
            start += value.index(":") + 1
        elif not _secret_name(word):
            continue
        out.append(line[position:start] + REDACTED)
        position = end
    out.append(line[position:])
    return "".join(out)


def _blank_named_value(match: re.Match) -> str:
    if match["value"] == REDACTED or not _secret_name(match["name"]):
        return match[0]
    return match["head"] + REDACTED


def _blank_url(match: re.Match) -> str:
    """A webhook URL keeps its host only (the path is the token); other URLs lose secret query values."""
    url, rest = match[0], match["rest"] or ""
    if "hook" in url.lower() and rest.strip("/"):
        return url[: len(url) - len(rest)] + "/" + REDACTED
    return url


def _redact_pem(text: str) -> str:
    """PEM blocks from BEGIN to END; a block cut short (a preview) up to where its base64 stops."""
    out, position = [], 0
    while (begin := _PEM_BEGIN.search(text, position)) is not None:
        end_marker = f"-----END {begin[1]}-----"
        end = text.find(end_marker, begin.end(), begin.end() + 65536)
        if end >= 0:
            stop, tail = end + len(end_marker), end_marker
        else:
            stop, tail = _PEM_BODY.match(text, begin.end()).end(), ""
        out.append(text[position : begin.end()] + REDACTED + tail)
        position = stop
    out.append(text[position:])
    return "".join(out)


# --- names and shapes ----------------------------------------------------------------------------------------


# Every secret word and part holds one of these; a name without any is settled without splitting it.
_SECRET_HINTS = ("key", "tok", "pass", "pw", "secret", "cred", "auth", "bearer", "cookie")


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    if not any(hint in lowered for hint in _SECRET_HINTS):
        return False
    if any(part in lowered for part in _SECRET_PARTS):
        return True
    words = [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()) if w]
    if any(word in _SECRET_WORDS and not _vocabulary_token(words, i) for i, word in enumerate(words)):
        return True
    if name.isupper() and any(word in _TAIL_WORDS for word in words):  # DB_PASS, DB_PASS_2: environment names
        return True
    if not words or words[-1] not in _TAIL_WORDS:
        return False
    return words[-1] == "pw" or (len(words) > 1 and words[-2] in _PASS_OWNERS)


# A tokenizer's special tokens (`oov_token="<OOV>"`, `tokenizer.pad_token`) are vocabulary, not credentials.
_TOKEN_KINDS = frozenset({"pad", "eos", "bos", "unk", "oov", "sep", "cls", "mask", "start", "end", "special"})


def _vocabulary_token(words: list[str], i: int) -> bool:
    return words[i] == "token" and i > 0 and words[i - 1] in _TOKEN_KINDS


def _contains_key(text: str) -> bool:
    if any(_random_tail(m[0]) for m in _KEY_PATTERN.finditer(text)):
        return True
    if _PEM_BEGIN.search(text) or _URL_CREDENTIALS.search(text) or _BARE_CREDENTIALS.search(text):
        return True
    if any("hook" in m[0].lower() and (m["rest"] or "").strip("/") for m in _URL.finditer(text)):
        return True
    return any(_looks_random(m[0]) for m in _LONG_TOKEN.finditer(text))


def _random_tail(key: str) -> bool:
    """A provider prefix followed by something generated (a digit or a capital in it), not a word like
    `sk-learn` or `hf_datasets`."""
    tail = re.split(r"[-_.]", key, maxsplit=1)[-1]
    return key[:4] in ("AKIA", "ASIA") or any(c.isdigit() or c.isupper() for c in tail)


def _looks_random(token: str) -> bool:
    """A 32+ character run that reads like a generated key rather than an identifier or a path.

    Identifiers (`conv2d_batchnorm_...`) are lowercase words with underscores, paths have many slashes; keys are
    base62/base64 (mixed case and digits) or hex, with few separators and high per-character entropy.
    """
    core = token.rstrip("=")
    if sum(c in "_-/" for c in core) > len(core) // 10 or not any(c.isdigit() for c in core):
        return False
    counts = [core.count(c) for c in set(core)]
    entropy = -sum(n / len(core) * math.log2(n / len(core)) for n in counts)
    mixed_case = any(c.islower() for c in core) and any(c.isupper() for c in core)
    is_hex = all(c in "0123456789abcdefABCDEF" for c in core)
    digits = sum(c.isdigit() for c in core) / len(core)
    return (mixed_case and entropy >= 3.5) or (is_hex and entropy >= 3.0) or (digits >= 0.15 and entropy >= 4.0)


# A TFLite model's random-looking weights would read as keys; is_secret skips them, and summaries use the same
# check to recognise a model held as bytes.
def is_tflite_bytes(value: bytes | bytearray) -> bool:
    """A TFLite flatbuffer carries the file identifier "TFL3" at bytes 4..8."""
    return len(value) >= 8 and bytes(value[4:8]) == b"TFL3"
