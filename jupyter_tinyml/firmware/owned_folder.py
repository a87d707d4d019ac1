"""Folders jupyter-tinyml writes into, and the marker file that says which of their files it wrote.

A writer (write_project, the virtual board build) replaces a file only when the folder's marker lists it: a
person's README.md, platformio.ini, sketch or src/main.py in the same folder is never overwritten nor removed.

    owned = claim(root, "write_project", paths, overwrite=False)   # refuses before anything is written
    for path, text in contents.items():
        write_file(path, text)
    owned.record(paths)                                             # the marker lists what was written

The marker (.jupyter-tinyml, JSON) keeps each writer's files with their SHA-256 as written; a file the writer no
longer writes is removed only when it still holds those bytes (an edited file is left alone).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FolderNotOursError

MARKER = ".jupyter-tinyml"
_NOTE = ("jupyter-tinyml replaces or removes only the files listed here, each under the function that wrote it; "
         "delete this file to make the folder yours again")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_marker(folder: Path) -> dict[str, dict[str, str]]:
    """{writer: {relative path: sha256}}; {} when there is no marker or it is unreadable (then nothing is ours)."""
    try:
        writers = json.loads((folder / MARKER).read_text(encoding="utf-8")).get("writers", {})
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(writers, dict):
        return {}
    return {str(writer): {str(path): str(digest) for path, digest in files.items()}
            for writer, files in writers.items() if isinstance(files, dict)}


@dataclass
class OwnedFolder:
    """A folder a writer may write into; `record` lists what it wrote in the marker."""

    folder: Path
    writer: str
    writers: dict[str, dict[str, str]] = field(default_factory=dict)

    def relative(self, path: Path) -> str:
        return Path(os.path.abspath(path)).relative_to(self.folder).as_posix()

    def record(self, written: Iterable[Path]) -> None:
        """Write the marker with the files just written; remove the files this writer wrote last time and no
        longer writes, when they still hold what it wrote."""
        now = {self.relative(path): _digest(Path(path).read_bytes()) for path in written if Path(path).is_file()}
        for name, digest in self.writers.get(self.writer, {}).items():
            if name in now:
                continue
            path = self.folder / name
            try:
                if path.is_file() and not path.is_symlink() and _digest(path.read_bytes()) == digest:
                    path.unlink()
                    _remove_empty_parents(path.parent, self.folder)
            except OSError:
                pass  # a stale file that cannot be removed does no harm
        self.writers[self.writer] = now
        marker = {"note": _NOTE, "writers": self.writers}
        (self.folder / MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _remove_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()  # only an empty folder goes
        except OSError:
            return
        folder = folder.parent


def claim(folder: str | os.PathLike[str], writer: str, paths: Iterable[Path], *,
          overwrite: bool = False) -> OwnedFolder:
    """Check, before anything is written, that writing `paths` (inside `folder`) replaces only files the folder's
    marker lists; FolderNotOursError names the first other file (or a link, or a file where a folder must go).
    overwrite=True replaces them anyway. Creates the folder."""
    root = Path(os.path.abspath(folder))
    writers = _read_marker(root)
    listed = {name for files in writers.values() for name in files}
    owned = OwnedFolder(root, writer, writers)
    if root.exists() and not root.is_dir():
        raise FolderNotOursError(root, writer)
    if not overwrite:
        for path in paths:
            target = Path(os.path.abspath(path))
            name = owned.relative(target)  # ValueError for a path outside the folder: a bug of the caller
            for parent in target.parents:
                if parent == root:
                    break
                if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
                    raise FolderNotOursError(parent, writer)
            if target.is_symlink() or (target.exists() and (name not in listed or not target.is_file())):
                raise FolderNotOursError(target, writer)
    root.mkdir(parents=True, exist_ok=True)
    return owned


def write_file(path: Path, text: str) -> None:
    """Write `text` to `path` (with its folders), replacing a link rather than writing through it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_text(text, encoding="utf-8", newline="\n")
