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


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 recording', '3 recordings', '0 recordings' (the batch summary said '1 recordings')."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def ordinal(number: float) -> str:
    """A percentile as an ordinal: '90th', '81st', '92nd', '83rd', '11th', '99.5th' (a warning
    that wrote f"{p:g}th" read '92th')."""
    suffix = "th"
    if number == int(number) and int(number) % 100 not in (11, 12, 13):
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(int(number) % 10, "th")
    return f"{number:g}{suffix}"


# Characters and names Windows refuses in a file or folder name (macOS and Linux refuse only '/')
WINDOWS_BAD_CHARACTERS = '<>:"/\\|?*'
WINDOWS_RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)]
)


def unfit_file_name(name: str) -> str | None:
    """Why `name` cannot be a file or folder name on every system (None: it can): results made
    on Linux are opened on Windows, where ':' (a time stamp), 'CON' or a trailing dot fail."""
    if not name or name in (".", ".."):
        return "it is empty"
    bad = sorted({c for c in name if c in WINDOWS_BAD_CHARACTERS or ord(c) < 32})
    if bad:
        return "it holds " + " ".join(repr(c) for c in bad)
    if name.split(".")[0].strip().upper() in WINDOWS_RESERVED_NAMES:
        return f"{name.split('.')[0]} is a device name on Windows"
    if name[-1] in ". ":
        return "it ends in a dot or space (Windows drops them)"
    return None


def file_name_part(text: str) -> str:
    """`text` (a neuron's id, a layer's name) made fit for a file name on every system: each
    character Windows refuses becomes '_', as does a trailing dot or space."""
    out = "".join("_" if c in WINDOWS_BAD_CHARACTERS or ord(c) < 32 else c for c in str(text))
    if out and out[-1] in ". ":
        out = out[:-1] + "_"
    if out.split(".")[0].strip().upper() in WINDOWS_RESERVED_NAMES:
        out = "_" + out
    return out or "_"
