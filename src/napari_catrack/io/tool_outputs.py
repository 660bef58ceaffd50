"""One entry point for other tools' source-extraction outputs (the CLI and the widget use it)."""

from __future__ import annotations

TOOLS = ("suite2p", "caiman", "minian")


def read_tool_output(tool: str, path, fps: float | None = None, *, plane: int | str | None = None, plane_offsets: bool = True, baseline_window_s: float | None = None):  # fmt: skip
    """The `SourcesResult` of a suite2p / CaImAn / Minian output (`plane`: suite2p's plane N or
    "all"; without it, the folder given when it is a plane folder, else every plane;
    `plane_offsets`: suite2p's planes timed within the volume, see `io.suite2p._plane_times`;
    `baseline_window_s`: the dF/F baseline's running window, None: `SourcesParams`' default)."""
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
        return read(path, fps=fps, plane=plane, plane_offsets=plane_offsets, baseline_window_s=baseline_window_s)  # fmt: skip
    if plane is not None:
        from napari_catrack.errors import InputError

        raise InputError(f"--plane is for suite2p outputs, not {tool}")
    return read(path, fps=fps, baseline_window_s=baseline_window_s)


WIDGET_RETRY = "type {rate} in 'frame rate' (shared by every widget) and import again"
CLI_RETRY = "give --fps {rate} (and import again)"


def read_at_rate_in_force(tool: str, path, fps: float | None, source: str, retry: str = WIDGET_RETRY, *, reader=read_tool_output, **options):  # fmt: skip
    """A tool's output at the frame rate in force (`fps`, e.g. the recording's or the user's,
    `source` saying where it came from: a tool's stored rate is often its default, e.g.
    suite2p's fs 10), with a warning naming the tool's rate when it differs and what to do if
    the tool's is right (`retry`, "{rate}" its rate); only when no rate is in force (`fps`
    None), at the tool's stored rate (the caller makes it the rate in force). The Sources
    widget and `catrack import --session` (the session's rate) read through it (`reader`:
    `read_tool_output`'s signature)."""
    if not fps:
        return reader(tool, path, None, **options)
    result = reader(tool, path, fps, **options)
    stored = result.tool_fps  # Minian stores none
    result.notes = [n.replace(f"fs {fps:g} Hz (given)", f"fs {fps:g} Hz ({source})") for n in result.notes]  # fmt: skip
    if stored and abs(stored - fps) <= 1e-6 * fps:
        return result
    from napari_catrack.core.sources.imported import tool_name

    name = tool_name(tool)  # "CaImAn", "Minian", as the other messages name the tool (h22)
    # the reader's own "given, but ... says" line is replaced by this one, which says what to do
    result.warnings = [w for w in result.warnings if " Hz given, but " not in w]
    if stored:
        result.warnings.append(
            f"{name} stored a frame rate of {stored:g} Hz but {fps:g} Hz ({source}) is in force: "
            f"the import is recorded at {fps:g} Hz. If {name}'s {stored:g} Hz is right, "
            + retry.format(rate=f"{stored:g}")
        )
    else:
        result.warnings.append(f"{name} stored no frame rate: the {fps:g} Hz in force ({source}) is used")  # fmt: skip
    return result
