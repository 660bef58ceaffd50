"""Figures of the puncta step: precision and photon histograms, the calcium raster per punctum."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from napari_catrack.export.layout import PUNCTA_FIGURES
from napari_catrack.figures.style import figsize, styled


@styled
def precision_photons_figure(locs: pd.DataFrame, pixel_size_nm: float) -> Figure:
    """Histograms of the localisation precision (nm) and of the photons per localisation."""
    fig = Figure(figsize=figsize(2.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    unc = locs["uncertainty"].to_numpy(float) * pixel_size_nm if len(locs) else np.zeros(0)
    unc = unc[np.isfinite(unc)]
    top = np.percentile(unc, 99) if unc.size else 1.0  # a few failed fits would squash the rest
    ax1.hist(unc, bins=40, range=(0, top), color="tab:blue")
    if unc.size:
        ax1.axvline(np.median(unc), color="k", lw=1, ls="--")
        ax1.set_title(f"precision: median {np.median(unc):.1f} nm", fontsize=9)
    ax1.set_xlabel("uncertainty (nm, 1 sigma per axis)")
    ax1.set_ylabel("localisations")
    photons = locs["photons"].to_numpy(float) if len(locs) else np.zeros(0)
    photons = photons[np.isfinite(photons) & (photons > 0)]
    bins = np.geomspace(max(photons.min(), 1), photons.max() * 1.01, 40) if photons.size > 1 else 10
    ax2.hist(photons, bins=bins, color="tab:orange")
    ax2.set_xscale("log")
    # ticks at 1, 2, 5 x 10^k written as plain numbers (500, 1000, 2000): within one decade
    # matplotlib labelled every minor tick (3x10^2, 4x10^2, ...) and the labels ran together;
    # a range narrower than 3x, which may hold none of them, gets matplotlib's linear ticks
    if photons.size > 1 and photons.max() < 3 * photons.min():
        ax2.xaxis.set_major_locator(MaxNLocator(4))
    else:
        ax2.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax2.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax2.xaxis.set_minor_formatter(NullFormatter())
    ax2.set_xlabel("photons per localisation")
    if photons.size:
        ax2.set_title(f"photons: median {np.median(photons):.0f}", fontsize=9)
    return fig


@styled
def calcium_raster_figure(locs: pd.DataFrame, n_frames: int, fps: float | None = None) -> Figure:
    """One row per track: grey where the punctum is localised, red where calcium is called."""
    fig = Figure(figsize=figsize(2.6), layout="constrained")
    ax = fig.subplots()
    linked = locs[locs["track_id"] >= 0] if len(locs) else locs
    tracks = np.sort(linked["track_id"].unique()) if len(linked) else np.zeros(0, int)
    img = np.zeros((max(len(tracks), 1), max(n_frames, 1)), np.int8)
    if len(tracks):
        row = np.searchsorted(tracks, linked["track_id"].to_numpy())
        img[row, linked["frame"].to_numpy(int)] = 1 + linked["calcium"].to_numpy(int)
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["white", "0.8", "tab:red"])
    scale = 1.0 / fps if fps else 1.0
    ax.imshow(img, aspect="auto", interpolation="nearest", cmap=cmap, vmin=0, vmax=2,
              extent=(0, n_frames * scale, len(tracks) - 0.5, -0.5))  # fmt: skip
    ax.set_xlabel("time (s)" if fps else "frame")
    ax.set_ylabel("punctum (track)")
    n_events = int(linked["calcium"].sum()) if len(linked) else 0
    # the statistics count every localisation; the raster shows tracked ones only: say so when
    # the two numbers differ (81 here, 82 in the statistics, with no word why)
    untracked = int(locs["calcium"].sum()) - n_events if len(locs) else 0
    title = f"calcium at puncta: {n_events} punctum-frames with a signal (red)"
    if untracked:
        title += f"\n({untracked} more in localisations without a track)"  # fits a dock
    ax.set_title(title, fontsize=9)
    return fig


def puncta_figure(
    name: str, locs: pd.DataFrame, pixel_size_nm: float, n_frames: int, fps: float | None = None
) -> Figure:
    """The puncta figure `name` (one of `PUNCTA_FIGURES`) of the localisations `locs` (internal
    units, with track ids and calcium calls) of an `n_frames` movie: the one builder of
    `catrack puncta --figures` and of `catrack export`'s puncta figures; the calcium raster's
    axis in seconds at `fps`, in frames without a rate."""
    if name == "precision_photons":
        return precision_photons_figure(locs, pixel_size_nm)
    if name == "calcium_raster":
        return calcium_raster_figure(locs, n_frames, fps)
    raise ValueError(f"unknown puncta figure {name!r}; known: {', '.join(PUNCTA_FIGURES)}")
