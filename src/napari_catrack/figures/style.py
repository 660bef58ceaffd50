"""The one figure style every napari-catrack figure uses (export, demo, commands, widgets' saves).

Why one place: a paper needs all panels alike (font sizes, widths that fit a journal column,
editable text in vector files, colour-blind-safe maps); each builder used to pick its own.
Everything here is applied locally (`matplotlib.rc_context`), never to the global rcParams, so
a user's own matplotlib settings are left alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from cycler import cycler

COLUMN_IN = 3.5
"""Width of a single-column figure (inches; most journals: 3.3-3.5)."""
DOUBLE_IN = 7.0
"""Width of a two-column (full page width) figure (inches; most journals: 6.7-7.2)."""
PNG_DPI = 300
"""Resolution of every saved raster file (journals ask for >= 300 dpi)."""
MAX_LINE_NEURONS = 20
"""Above this many neurons a trace figure draws a heat map (one row per neuron) instead of
overlapping lines, which are unreadable and slow beyond a few dozen."""
MAX_ROW_LABELS = 30
"""Above this many rows a raster / heat map labels rows by tick locator instead of one label each."""

SEQUENTIAL_CMAP = "viridis"
"""Unsigned quantities (dF/F heat maps, similarities): perceptually uniform, colour-blind safe."""
DIVERGING_CMAP = "RdBu_r"
"""Signed quantities (curvature, event-triggered dF/F, correlations): blue-white-red, always
drawn with limits symmetric about 0 (`symmetric_limits`); readable with red-green colour blindness."""

DFF_LABEL = "ΔF/F"
RATIO_LABEL = "ΔR/R₀"

_SIGNALS = {
    "dff": DFF_LABEL,
    "dff_green": f"green {DFF_LABEL}",
    "dff_clean": f"cleaned {DFF_LABEL}",
    "green": "green (a.u.)",
    "red": "red (a.u.)",
    "ratio": "ratio G/R",
}


def signal_label(column: str, ratio: bool = False) -> str:
    """The axis label (with its unit) of a traces column a figure shows; `ratio`: the table's
    dff is the ratio-based dR/R0 (`figures.traces.dff_is_ratio`), so dff and its cleaned form
    are labelled ΔR/R₀."""
    label = _SIGNALS.get(column, column)
    return (
        label.replace(DFF_LABEL, RATIO_LABEL) if ratio and column in ("dff", "dff_clean") else label
    )


OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
"""Okabe & Ito's colour-blind-safe palette (blue, orange, green, vermillion, purple, sky, black):
the line colours C0..C6 of every styled figure (tab10's C2/C3 green/red pair is not safe)."""

STYLE: dict[str, object] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "figure.titlesize": 9,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "lines.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": SEQUENTIAL_CMAP,
    "axes.prop_cycle": cycler(color=OKABE_ITO),
}

SAVE_RC: dict[str, object] = {
    # editable text in vector files: SVG keeps <text> elements, PDF embeds TrueType (Type 42)
    # fonts instead of Type 3 outlines, so a journal's editor or Illustrator can change labels
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "savefig.dpi": PNG_DPI,
}
"""What every save gets (`save_figure`), styled figure or a widget's canvas."""

F = TypeVar("F", bound=Callable)


def colour(n: int) -> tuple[float, float, float, float]:
    """Line colour n of the current cycle, fixed now: a "CN" string is looked up when matplotlib
    draws, so a styled figure shown outside the style would change colours."""
    from matplotlib.colors import to_rgba

    return to_rgba(f"C{n % 10}")


def styled(build: F) -> F:
    """Run a figure builder under `STYLE`, so the text it creates gets the style's sizes."""

    @functools.wraps(build)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(STYLE):
            fig = build(*args, **kwargs)
        fig._catrack_styled = True  # save_figure draws it under STYLE too (ticks made at draw)
        return fig

    return wrapper  # type: ignore[return-value]


def save_rc(fig) -> dict[str, object]:
    """The rcParams a save of `fig` runs under: the style's sizes for a styled figure (matplotlib
    makes tick labels when it draws), the save settings for any."""
    return {**(STYLE if getattr(fig, "_catrack_styled", False) else {}), **SAVE_RC}


def figsize(height: float, width: str | float = "double") -> tuple[float, float]:
    """(width, height) in inches: `width` "column" (3.5 in), "double" (7 in) or a number."""
    w = {"column": COLUMN_IN, "double": DOUBLE_IN}.get(width, width)  # type: ignore[arg-type]
    return float(w), float(height)


def symmetric_limits(values: np.ndarray, percentile: float = 98.0) -> float:
    """Half-range of a diverging colour scale centred at 0: the `percentile` of |values|."""
    a = np.abs(np.asarray(values, float))
    a = a[np.isfinite(a)]
    lim = float(np.percentile(a, percentile)) if a.size else 1.0
    return lim if lim > 0 else 1.0


def label_recording(fig, recording: str | None) -> None:
    """Say which recording a figure shows: after its suptitle, else after the title of a
    one-panel figure, else as a suptitle of its own."""
    if not recording:
        return
    import matplotlib

    # set_title re-reads the title size from rcParams: under the style, or it grew to 12 pt
    with matplotlib.rc_context(STYLE if getattr(fig, "_catrack_styled", False) else {}):
        _label_recording(fig, recording)


def left_out_label(label: str | None, rejected: int, df: int = 0) -> str | None:
    """A figure's recording label that also says how many rejected cells it leaves out (a
    rejected cell is no neuron: `core.transients.features.rejected_ids`) and how many cells
    whose dff is dF, not dF/F (the sources' `dff_kind`: under a dF/F axis they would set its
    scale), as every figure of cells does that leaves them out (the exported ones, `catrack
    transients --figures`)."""
    notes = [f"{n} {what}{'s' if n > 1 else ''}{rest} left out"
             for n, what, rest in ((rejected, "rejected cell", ""), (df, "cell", " with dF, not dF/F,"))
             if n]  # fmt: skip
    return "; ".join(t for t in (label, *notes) if t) or None


def _label_recording(fig, recording: str) -> None:
    sup = fig._suptitle.get_text() if fig._suptitle is not None else ""
    titled = [ax for ax in fig.axes if ax.get_title()]
    if not sup and len(titled) == 1 and len(fig.axes) - len(titled) <= 1:  # (+ a colour bar)
        narrow = fig.get_size_inches()[0] <= COLUMN_IN + 0.01  # one line would not fit
        sep = "\n" if narrow else " "
        titled[0].set_title(f"{titled[0].get_title()}{sep}({recording})")
        return
    fig.suptitle(f"{sup} ({recording})" if sup else recording, fontsize=STYLE["figure.titlesize"])
