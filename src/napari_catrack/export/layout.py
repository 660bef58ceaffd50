"""The export layout: which file each thing a session holds becomes (docs/export.md).

One folder per recording. The tables the `catrack` commands write keep their command names at the
top (`align.json`, `candidates.csv`, `tracks.csv`, `traces.csv`, `transients.csv`, `cells.csv`),
each other area has its sub-folder (`ensembles/`, `behaviour/`, `two_photon/`, `sources/`,
`puncta/`, `events/`), figures go to `figures/`, the session itself to `session.catrack.h5` and the
NWB file to `session.nwb`. Tables a later step adds without an entry here are still listed, as
`<step>/<table>`, so the Export widget always shows everything the session holds.
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE_FORMATS = ("csv", "xlsx", "h5")
FIGURE_FORMATS = ("svg", "png", "pdf")
SESSION_FILE = "session.catrack.h5"
# the puncta figures (`figures.puncta.puncta_figure`): `catrack puncta --figures` writes them
# as DIR/<name>.<format>, `catrack export` as figures/<name>.<format>
PUNCTA_FIGURES = ("precision_photons", "calcium_raster")
NWB_FILE = "session.nwb"

# Steps that hold widget state, not results.
INTERNAL_STEPS = frozenset({"settings", "batch"})

# (step, table) -> (path in the folder without extension, label)
TABLES: dict[tuple[str, str], tuple[str, str]] = {
    ("neurons", "candidates"): ("candidates", "Neuron candidates"),
    ("tracks", "tracks"): ("tracks", "Tracks (neuron positions in every frame)"),
    ("traces", "traces"): ("traces", "Traces (green, red, ratio, ΔF/F or ΔR/R₀)"),
    ("transients", "transients"): ("transients", "Transients (one row each)"),
    ("transients", "cells"): ("cells", "Per-cell statistics"),
    ("transients", "verdicts"): ("verdicts", "Cell verdicts (curation)"),
    ("ensembles", "events"): ("ensembles/ensemble_events", "Ensemble events"),
    ("ensembles", "members"): ("ensembles/ensemble_members", "Ensemble members"),
    ("registration", "shifts"): ("two_photon/shifts", "Motion-correction shifts"),
    ("sources", "components"): ("sources/components", "Source components"),
    ("segmentation", "frames"): ("behaviour/segmentation_frames", "Segmentation quality per frame"),
    ("centerline", "centerline"): ("behaviour/centerline", "Centerlines"),
    ("centerline", "frames"): ("behaviour/centerline_frames", "Centerline status per frame"),
    ("centerline", "posture"): ("behaviour/posture", "Posture (curvature, eigenworms)"),
    ("velocity", "velocity"): ("behaviour/velocity", "Velocity"),
    ("bouts", "bouts"): ("behaviour/bouts", "Behavioural bouts (forward, reversal, pause, turn)"),
    ("puncta", "localizations"): ("puncta/localizations", "Puncta localisations"),
    ("puncta", "tracks"): ("puncta/track_summary", "Puncta tracks"),
    # not stored: made from the localisations (`core.puncta.pipeline.calcium_table`)
    ("puncta", "calcium"): ("puncta/calcium", "Puncta calcium (each punctum in each frame)"),
    ("puncta", "events"): ("puncta/events", "Puncta calcium events"),
    ("events", "events"): ("events/events", "Behaviour events (aligned to imaging)"),
    ("events", "frame_times"): ("events/frame_times", "Imaging frame times"),
    ("behaviour_video", "frame_times"): ("events/video_frame_times", "Behaviour video frame times"),
    ("eta", "eta"): ("events/eta", "Event-triggered averages"),
    ("eta", "significance"): ("events/eta_significance", "Event responses: significance"),
}

#: the traces' label when they are a two-photon session's sources (`traces_from_sources`): their
#: columns are the tool's (docs/export.md), not the worm path's green, red and ratio (h22)
SOURCES_TRACES_LABEL = "Traces (raw, denoised, spikes, ΔF/F per cell)"

# (step, array) -> (path without extension, label, format); "*" matches any array of the step.
ARRAYS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("segmentation", "masks"): ("behaviour/masks", "Worm masks (uint8 TIFF stack)", "tif"),
    ("sources", "footprints"): ("sources/footprints", "Source footprints", "h5"),
    ("summary", "*"): ("two_photon/summary/{name}", "Summary image {name}", "tif"),
}


@dataclass(frozen=True)
class ExportItem:
    """One thing the session holds that can be written, and where it goes."""

    key: str  # unique, stable: "tracks", "figure:raster", "session", ...
    label: str
    kind: str  # table, json, image, h5, figure, session, nwb
    path: str  # relative path in the folder; without extension for tables and figures
    formats: tuple[str, ...]
    step: str = ""
    name: str = ""  # table or array name within the step; figure name

    @property
    def default_format(self) -> str:
        return self.formats[0]

    def relative_path(self, fmt: str | None = None) -> str:
        """The file this item becomes with format `fmt` (default: its first format)."""
        fmt = fmt or self.default_format
        if fmt not in self.formats:
            from napari_catrack.errors import InputError

            raise InputError(
                f"{self.label}: format {fmt!r} is not one of {', '.join(self.formats)}"
            )
        if self.kind in ("table", "figure", "image", "h5"):
            return f"{self.path}.{fmt}"
        return self.path
