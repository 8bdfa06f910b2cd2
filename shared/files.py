"""Files at rest that hold pupils' data or secrets (databases, keys, tokens, the pseudonym key):
created readable by their owner only, 0600 files in 0700 folders, whatever the process's umask.

Permissions are set as a file is created, never after it was written, so there is no moment at
which another user of the machine could open it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> Path:
    """`path` as a 0700 folder; any missing parents are created 0700 too
    (existing ones are left)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
        os.chmod(
            folder, FOLDER_MODE
        )  # mkdir's mode is narrowed by the umask, never widened: set it outright
    _narrow(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path` created empty if missing, 0600 in a 0700 folder, before anything writes to it
    (SQLite then gives its -wal and -shm files the database's own mode).

    An existing file is never opened here: closing any descriptor of a file drops every POSIX
    lock this process holds on it, and SQLite's locks are how another process knows a database
    is in use (without them, its last connection deletes the write-ahead log under ours)."""
    private_folder(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    _narrow(path, FILE_MODE)
    return path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` (replacing it), the file 0600 from its first byte, in a 0700 folder.

    Written beside it and renamed into place, so another process reading it (a service finding
    its tokens while `hub node up` writes them) reads the old text or the new, never a part."""
    private_folder(path.parent)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _narrow(path: Path, mode: int) -> None:
    """Make an existing file or folder of ours `mode` (one made before this rule, or by an
    operator); another user's is left as it is (that is the operator's to set)."""
    if path.stat().st_uid == os.getuid():
        os.chmod(path, mode)
