"""One entry point for other tools' source-extraction outputs (the CLI and the widget use it)."""

from __future__ import annotations

TOOLS = ("suite2p", "caiman", "minian")


def read_tool_output(tool: str, path, fps: float | None = None, *, plane: int | str | None = None, plane_offsets: bool = True):  # fmt: skip
    """The `SourcesResult` of a suite2p / CaImAn / Minian output (`plane`: suite2p's plane N or
    "all"; without it, the folder given when it is a plane folder, else every plane;
    `plane_offsets`: suite2p's planes timed within the volume, see `io.suite2p._plane_times`)."""
    if tool == "suite2p":
        from napari_catrack.io.suite2p import read_suite2p as read
    elif tool == "caiman":
        from napari_catrack.io.caiman import read_caiman as read
    elif tool == "minian":
        from napari_catrack.io.minian import read_minian as read
    else:
        from napari_catrack.errors import InputError

        raise InputError(f"unknown tool {tool!r}: one of {', '.join(TOOLS)}")
    if tool == "suite2p":
        return read(path, fps=fps, plane=plane, plane_offsets=plane_offsets)
    if plane is not None:
        from napari_catrack.errors import InputError

        raise InputError(f"--plane is for suite2p outputs, not {tool}")
    return read(path, fps=fps)
