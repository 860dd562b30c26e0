"""Process helpers for tests that check a command leaves no helper process behind."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> set[int]:
    """Direct children of a process (all its threads')."""
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        kids |= {int(k) for k in task.read_text().split()}
    return kids


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
