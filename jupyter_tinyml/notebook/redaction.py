"""The secret filter: which variables and which literals must never reach a prompt.

Why a module of its own: every path to the model (variable summaries, recent cells, the last error) goes
through these two functions, so they must be readable and testable on their own. It imports nothing but the
standard library, and nothing from the summaries, so anything may use it without a cycle.
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
     "auth", "authorization", "bearer"}
)
# Substrings that mark a secret wherever they appear in a name (`dbpassword`, `client_secret_x`).
_SECRET_PARTS = ("api_key", "apikey", "password", "passwd", "secret", "credential", "access_token")
# Key formats of common providers. The look-behind keeps `disk-...` or `mask-...` from matching `sk-`.
_KEY_PATTERN = re.compile(
    r"(?<![A-Za-z0-9_])(?:"
    r"sk-[A-Za-z0-9_\-]{16,}"  # OpenAI, Anthropic (sk-ant-...)
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]*)?"  # JWT
    r"|hf_[A-Za-z0-9]{30,}|AIza[0-9A-Za-z_\-]{35}|gsk_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_\-]{20,}"
    r")"
)
_LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{32,}(?![A-Za-z0-9_\-])")
# A string literal assigned to, passed as or keyed by a name: `api_key="..."`, `os.environ["HF_TOKEN"] = '...'`,
# `{"password": "..."}`. redact() blanks the literal when the name reads like a secret (see _secret_name).
_NAMED_LITERAL = re.compile(
    r"""(?P<lhs>(?P<name>[A-Za-z_]\w{0,60})['"]?\]?\s*(?::|=(?!=))\s*[rbfuRBFU]{0,2})"""
    r"""(?P<quote>["'])(?P<value>[^"'\n]*)(?P=quote)"""
)
SECRET_SCAN_CHARS = 4096  # is_secret reads at most this much of a string value


def is_secret(name: str, value: Any) -> bool:
    """True when the variable must never reach a prompt: its name or its (string) value looks like a secret.

    Names: words such as key, token, password, passwd, secret, credential, api_key, auth (OPENAI_API_KEY,
    my_token, db_password, apiKey). Values: provider key formats (sk-, ghp_, xoxb-, AKIA..., JWTs, hf_) and
    long random-looking runs of 32+ characters of [A-Za-z0-9_-]. Only the first 4 KB of a string is read.
    """
    if name and _secret_name(name):
        return True
    if isinstance(value, str):
        return _contains_key(value[:SECRET_SCAN_CHARS])
    if isinstance(value, (bytes, bytearray)) and len(value) <= SECRET_SCAN_CHARS and not is_tflite_bytes(value):
        return _contains_key(bytes(value).decode("latin-1"))
    return False


def redact(text: str) -> str:
    """`text` with secret-looking literals replaced by <redacted> (key formats, random runs, and string
    literals assigned to secret-named targets such as `openai.api_key = "..."`)."""
    text = _NAMED_LITERAL.sub(_blank_secret_literal, text)
    text = _KEY_PATTERN.sub(REDACTED, text)
    return _LONG_TOKEN.sub(lambda m: REDACTED if _looks_random(m[0]) else m[0], text)


def _blank_secret_literal(match: re.Match) -> str:
    if not _secret_name(match["name"]):
        return match[0]
    return f"{match['lhs']}{match['quote']}{REDACTED}{match['quote']}"


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    if any(part in lowered for part in _SECRET_PARTS):
        return True
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    return any(word in _SECRET_WORDS for word in re.split(r"[^a-z0-9]+", words))


def _contains_key(text: str) -> bool:
    if _KEY_PATTERN.search(text):
        return True
    return any(_looks_random(m[0]) for m in _LONG_TOKEN.finditer(text))


def _looks_random(token: str) -> bool:
    """A 32+ character run that reads like a generated key rather than an identifier.

    Identifiers (`conv2d_batchnorm_...`) are lowercase words with underscores; keys are base62 (mixed case and
    digits) or hex, with few separators and high per-character entropy.
    """
    if sum(c in "_-" for c in token) > len(token) // 10 or not any(c.isdigit() for c in token):
        return False
    counts = [token.count(c) for c in set(token)]
    entropy = -sum(n / len(token) * math.log2(n / len(token)) for n in counts)
    mixed_case = any(c.islower() for c in token) and any(c.isupper() for c in token)
    is_hex = all(c in "0123456789abcdefABCDEF" for c in token)
    digits = sum(c.isdigit() for c in token) / len(token)
    return (mixed_case and entropy >= 3.5) or (is_hex and entropy >= 3.0) or (digits >= 0.15 and entropy >= 4.0)


# A TFLite model's random-looking weights would read as keys; is_secret skips them, and summaries use the same
# check to recognise a model held as bytes.
def is_tflite_bytes(value: bytes | bytearray) -> bool:
    """A TFLite flatbuffer carries the file identifier "TFL3" at bytes 4..8."""
    return len(value) >= 8 and bytes(value[4:8]) == b"TFL3"
