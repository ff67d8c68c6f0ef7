"""Files that are never left half-written: atomic replace, advisory locks, and JSON that is validated on read.

A write goes to a temporary file in the same folder, is flushed to disk and renamed over the target (a crash leaves
the old or the new file, never a mix). A reader that finds a corrupt file (a kill on a filesystem without atomic
rename, a full disk) moves it aside to `<name>.corrupt`, says so, and reports it as missing, so the caller rebuilds
it instead of failing.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator, Optional


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def set_aside(path: Path, reason: str) -> Path:
    """Move a corrupt file to <name>.corrupt (appending if one is there already) and say so on stderr."""
    aside = path.with_name(path.name + ".corrupt")
    with open(aside, "ab") as out, open(path, "rb") as src:
        out.write(src.read())
    path.unlink()
    print(f"warning: {path} is corrupt ({reason}); moved to {aside}, it will be rebuilt", file=sys.stderr)
    return aside


def read_json(path: str | os.PathLike) -> Optional[Any]:
    """The parsed JSON file, or None when it is missing or corrupt (a corrupt one is set aside, with a message)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        set_aside(path, f"{type(err).__name__}: {err}")
        return None


@contextlib.contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive advisory lock on <path>.lock for the duration of the block (every writer of `path` takes it,
    so concurrent processes append one after another instead of over each other)."""
    lock = Path(path).with_name(Path(path).name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary sibling folder to fill; renamed to `path` (replacing it) only when the block finishes, so a
    failure halfway leaves the old folder or nothing, never a half-written one."""
    import shutil

    out = Path(path)
    tmp = out.with_name(f".{out.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
