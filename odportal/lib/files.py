"""Folders and files under ``var/`` (the embedded database, broker and logs): owner only.

They hold the SQLite database with every encrypted key and the broker's task messages, so no
other account on the machine may read them, whatever the umask.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Create the folder ``path`` as 0700, or tighten it to 0700 if it exists and is ours.
    Missing parents are created as usual: they are not ours to restrict."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    _tighten(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty as 0600 if missing, else tighten it to 0600 if it is ours."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE))
    except FileExistsError:
        _tighten(path, PRIVATE_FILE)
    return path


def _tighten(path: Path, mode: int) -> None:
    info = path.stat()
    if info.st_uid == os.getuid() and info.st_mode & 0o777 & ~mode:
        path.chmod(mode)
