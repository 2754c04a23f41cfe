"""Crash-safe file writes and checksums: temp file + fsync + rename, so a killed process never leaves a torn file.

Used for episodes, checkpoints and recordings alike. A reader sees either the old file or the complete new one.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile
from collections.abc import Callable
from typing import IO, Any


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(path: pathlib.Path) -> None:
    """fsync a folder, so a rename inside it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> str:
    """Call `write(f)` on a temp file beside `path`, fsync it, rename it over `path`; return its SHA-256."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        digest = sha256_file(tmp_name)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp_name, path)
        fsync_dir(path.parent)
    except BaseException:
        pathlib.Path(tmp_name).unlink(missing_ok=True)
        raise
    return digest


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> str:
    """Write `data` atomically; return its SHA-256."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> str:
    """Write `obj` as indented JSON atomically; return the file's SHA-256."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete temp files a killed writer left in `folder`; return how many."""
    removed = 0
    for tmp in pathlib.Path(folder).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed
