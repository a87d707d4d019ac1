"""Just enough of C++'s lexical structure to read application glue as text: comments, literals, brackets, statements.

The glue checks and the whole-sketch splitter look at a model's C++ without a compiler (the compiler runs later and
says the rest). Everything here is pure and keeps character offsets: `masked` blanks comments (and, when asked,
the inside of string and character literals) with spaces, so a pattern found in the masked text is at the same
place in the original.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_OPENERS = {"(": ")", "[": "]", "{": "}"}


def masked(text: str, *, strings: bool = True) -> str:
    """`text` with comments blanked (newlines kept) and, with `strings`, the inside of "..." and '...' literals too.

    The quotes themselves stay, so `Serial.print("x")` reads as `Serial.print(" ")`; raw strings are not special
    (glue rarely has them). An unterminated literal runs to the end of its line, as the compiler reads it."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out[i:end] = " " * (end - i)
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out[i:end] = [c if c == "\n" else " " for c in text[i:end]]
            i = end
        elif char in "\"'":
            j = i + 1
            while j < n and text[j] != char and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            end = min(j, n)
            if strings:
                out[i + 1:end] = " " * (end - i - 1)
            i = end + 1
        else:
            i += 1
    return "".join(out)


def closing(code: str, start: int) -> int:
    """The index of the bracket closing the one at `start` in masked code; len(code) when it never closes."""
    opener = code[start]
    closer = _OPENERS[opener]
    depth = 0
    for index in range(start, len(code)):
        if code[index] == opener:
            depth += 1
        elif code[index] == closer:
            depth -= 1
            if depth == 0:
                return index
    return len(code)


def line_of(text: str, index: int) -> int:
    """The 1-based line of character `index`."""
    return text.count("\n", 0, index) + 1


@dataclass(frozen=True)
class Item:
    """One top-level piece of a C++ text (a statement, a block, a preprocessor line), with its offsets."""

    start: int
    end: int  # one past its last character
    text: str

    @property
    def code(self) -> str:
        """The item without its comments."""
        return masked(self.text, strings=False).strip()


_CONTROL = re.compile(r"(if|for|while|switch|do|else|try)\b")


# Looked for at a position (pattern.match(code, j)), never on a slice: slicing at every brace is quadratic.
_SEMICOLON_NEXT = re.compile(r"\s*;")
_CONTINUES_STATEMENT = re.compile(r"\s*(else\b|while\b|catch\b)")
_ELSE_NEXT = re.compile(r"\s*else\b")
_TRAILING_COMMENT = re.compile(r"[ \t]*//[^\n]*")


def items(text: str) -> list[Item]:
    """The top-level statements of a function body or a file, in order, each with the comments just above it
    (blanks and comments since the last item belong to the next one).

    A statement ends at `;` outside brackets; a braced block (a function, a struct, an if/for/while body) ends at its
    closing brace (plus a `;` right after, and an `else` chain that follows); a preprocessor directive is its line.
    """
    code = masked(text)
    found: list[Item] = []
    i, n = 0, len(code)
    start = 0
    while i < n:
        while i < n and code[i].isspace():
            i += 1
        if i >= n:
            break
        if code[i] == "#":
            end = i
            while True:
                end = code.find("\n", end)
                if end < 0:
                    end = n
                    break
                if code[end - 1] != "\\":
                    break
                end += 1
            found.append(Item(start, end, text[start:end]))
            start = i = end
            continue
        j = i
        while j < n:
            char = code[j]
            if char in "([":
                j = closing(code, j) + 1
            elif char == "{":
                j = closing(code, j) + 1
                if _SEMICOLON_NEXT.match(code, j):
                    j = code.index(";", j) + 1
                    break
                if not _CONTINUES_STATEMENT.match(code, j) and not _needs_semicolon(code[i:j]):
                    break
            elif char == ";":
                j += 1
                if not _ELSE_NEXT.match(code, j):
                    break
            else:
                j += 1
        trailing = _TRAILING_COMMENT.match(text, j)
        if trailing:  # a comment on the statement's own line is the statement's
            j = trailing.end()
        found.append(Item(start, j, text[start:j]))
        start = i = j
    return found


def _needs_semicolon(head: str) -> bool:
    """A braced initialiser or type definition (`int x[] = {..}`, `struct S {..}`) goes on to its `;`."""
    before_brace = head[: head.find("{")] if "{" in head else head
    return bool(re.search(r"=\s*$|\b(struct|class|enum|union)\b[^()]*$", before_brace.strip() + " ")) and not \
        _CONTROL.match(head.strip())


def without_comments(text: str) -> str:
    """The text with its comments removed (blank lines where they were), strings kept."""
    return masked(text, strings=False)


__all__ = ["Item", "closing", "items", "line_of", "masked", "without_comments"]
