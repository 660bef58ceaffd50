"""One entry point for other tools' source-extraction outputs (the CLI and the widget use it)."""

from __future__ import annotations

TOOLS = ("suite2p", "caiman", "minian")


def read_tool_output(tool: str, path, fps: float | None = None):
    """The `SourcesResult` of a suite2p / CaImAn / Minian output."""
    if tool == "suite2p":
        from napari_catrack.io.suite2p import read_suite2p as read
    elif tool == "caiman":
        from napari_catrack.io.caiman import read_caiman as read
    elif tool == "minian":
        from napari_catrack.io.minian import read_minian as read
    else:
        from napari_catrack.errors import InputError

        raise InputError(f"unknown tool {tool!r}: one of {', '.join(TOOLS)}")
    return read(path, fps=fps)
