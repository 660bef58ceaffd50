"""Short texts for messages shared by readers, the core and commands."""

from __future__ import annotations

from collections.abc import Iterable


def frame_ranges(frames: Iterable[int], limit: int | None = 8) -> str:
    """'3, 7-9, 20' for frames [3, 7, 8, 9, 20]; after `limit` ranges, '...' (None: all)."""
    runs: list[list[int]] = []
    for f in sorted(int(f) for f in frames):
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    shown = runs if limit is None else runs[:limit]
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in shown)
    return text + (", ..." if len(shown) < len(runs) else "")
