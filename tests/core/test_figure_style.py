"""Publication figures (review h13): units on every axis, seconds from the frame times, editable
text in vector files, 300-dpi PNGs, journal widths, colour-blind-safe maps (diverging ones
centred at 0), numbers that match the tables written beside them, and long recordings drawn as
heat maps instead of hundreds of lines."""

from __future__ import annotations

import re
import struct

import matplotlib
import numpy as np
import pandas as pd
import pytest

from napari_catrack.export.figures import available_figures, build_figure
from napari_catrack.figures import save_figure
from napari_catrack.figures.style import (
    COLUMN_IN,
    DOUBLE_IN,
    MAX_LINE_NEURONS,
    OKABE_ITO,
    PNG_DPI,
    STYLE,
)

from ._session_helpers import worm_session

SAFE_MAPS = {"viridis", "cividis", "magma", "inferno", "plasma", "Greys", "gray"}
DIVERGING = {"RdBu_r", "RdBu", "coolwarm", "PuOr", "BrBG"}
UNITS = ("(s)", "ΔF/F", "ΔR/R₀", "(a.u.", "(µm", "(1/µm)", "(1/pixel)", "(nm", "(px)")


@pytest.fixture(scope="module")
def worm(tmp_path_factory):
    session, _ = worm_session(tmp_path_factory.mktemp("figure_worm"), video=False)
    return session


def _titles(fig) -> str:
    sup = fig._suptitle.get_text() if fig._suptitle is not None else ""
    return " | ".join([sup] + [ax.get_title() for ax in fig.axes])


def _is_colorbar(ax) -> bool:
    return ax.get_label() == "<colorbar>"


def test_every_export_figure_is_labelled_sized_and_coloured_for_a_paper(worm):
    names = [item.name for item in available_figures(worm)]
    assert {"traces", "traces_heatmap", "transients_traces", "eta", "behaviour_speed"} <= set(names)
    for name in names:
        fig = build_figure(worm, name)
        width = fig.get_size_inches()[0]
        assert width in (COLUMN_IN, DOUBLE_IN), (name, width)  # a journal column or page width
        assert "rec.tif" in _titles(fig), (name, _titles(fig))  # which recording
        for ax in fig.axes:
            if not ax.axison:
                continue
            if _is_colorbar(ax):
                label = ax.get_ylabel() or ax.get_xlabel()
                assert label and any(u in label for u in UNITS), (name, label)
                continue
            if not ax.title.get_text() and not ax.get_xlabel() and not ax.get_ylabel():
                continue  # the ETA's lower panels share the column's title
            xlabel, ylabel = ax.get_xlabel(), ax.get_ylabel()
            assert ax.title.get_fontsize() == STYLE["axes.titlesize"], name  # (recording added)
            if ax.get_xticklabels() and any(t.get_text() for t in ax.get_xticklabels()):
                assert xlabel, (name, ax.get_title())
            assert ylabel, (name, ax.get_title())
            if "time" in xlabel:  # the traces carry time_s: never frame numbers
                assert xlabel.endswith("(s)"), (name, xlabel)
            assert xlabel != "frame", name
            for im in ax.get_images():
                cmap = im.get_cmap().name
                assert cmap in SAFE_MAPS | DIVERGING, (name, cmap)
                if cmap in DIVERGING:  # a signed quantity: white is 0
                    lo, hi = im.get_clim()
                    assert lo == pytest.approx(-hi), (name, lo, hi)


def test_saved_vector_text_is_editable_and_png_is_300_dpi_without_touching_rcparams(tmp_path):
    from napari_catrack.figures.transients import amplitude_figure

    before = {k: matplotlib.rcParams[k] for k in ("svg.fonttype", "pdf.fonttype", "savefig.dpi")}
    table = pd.DataFrame({"peak_amplitude": [0.2, 0.5, 0.9, np.nan]})
    fig = amplitude_figure(table)
    save_figure(fig, tmp_path / "a.svg")
    save_figure(fig, tmp_path / "a.pdf")
    save_figure(fig, tmp_path / "a.png")
    svg = (tmp_path / "a.svg").read_text()
    assert "<text" in svg and "Transient amplitudes (n = 3)" in svg  # text, not glyph paths
    pdf = (tmp_path / "a.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf  # TrueType (Type 42), not Type 3
    png = (tmp_path / "a.png").read_bytes()
    width = struct.unpack(">I", png[16:20])[0]
    assert width == round(COLUMN_IN * PNG_DPI)  # 3.5 in at 300 dpi, no tight crop
    phys = png.index(b"pHYs")
    ppm = struct.unpack(">I", png[phys + 4 : phys + 8])[0]
    assert ppm / 39.3701 == pytest.approx(PNG_DPI, abs=1)
    assert {k: matplotlib.rcParams[k] for k in before} == before  # set per save, not globally


def test_export_png_is_300_dpi_at_the_journal_width(worm, tmp_path):
    from napari_catrack.export import export_session

    export_session(worm, tmp_path, ["figure:transients_raster"], figure_format="png")
    png = (tmp_path / "figures" / "transients_raster.png").read_bytes()
    assert struct.unpack(">I", png[16:20])[0] == round(DOUBLE_IN * PNG_DPI)


def test_numbers_in_the_figures_match_the_tables_written_beside_them(worm, tmp_path):
    from napari_catrack.export import export_session

    tables = ["transients", "traces", "events:eta_significance"]
    export_session(worm, tmp_path, [*tables, "verdicts"], table_format="csv")
    # the figures leave the rejected cells out and say so (the tables keep every cell)
    verdicts = pd.read_csv(tmp_path / "verdicts.csv")
    rejected = set(verdicts.loc[verdicts["status"] == "rejected", "neuron_id"])
    assert rejected  # the worm session has one: the numbers below differ from the tables'
    transients = pd.read_csv(tmp_path / "transients.csv")
    transients = transients[~transients["neuron_id"].isin(rejected)]
    traces = pd.read_csv(tmp_path / "traces.csv")
    n_neurons = traces.loc[~traces["neuron_id"].isin(rejected), "neuron_id"].nunique()
    assert f"{len(rejected)} rejected cell" in _titles(build_figure(worm, "transients_traces"))

    title = _titles(build_figure(worm, "transients_traces"))
    got = re.search(r"Transients: (\d+) in (\d+) neurons", title)
    assert got and (int(got[1]), int(got[2])) == (len(transients), n_neurons), title
    title = _titles(build_figure(worm, "transients_raster"))
    got = re.search(r"Transient peaks: (\d+) in (\d+) neurons", title)
    assert got and (int(got[1]), int(got[2])) == (len(transients), n_neurons), title
    title = _titles(build_figure(worm, "transients_amplitudes"))
    assert f"(n = {int(transients['peak_amplitude'].notna().sum())})" in title, title
    iti = transients["iti_s"].to_numpy(float)
    title = _titles(build_figure(worm, "transients_iti"))
    assert f"(n = {int((np.isfinite(iti) & (iti > 0)).sum())})" in title, title

    sig = pd.read_csv(next(tmp_path.rglob("eta_significance.csv")))
    fig = build_figure(worm, "eta")
    for kind, rows in sig.groupby(sig["event"].astype(str)):
        want = f"{kind}: {int(rows['significant'].astype(bool).sum())} of {len(rows)} neurons"
        assert want in _titles(fig), (want, _titles(fig))


def test_transient_figures_use_the_recordings_frame_times():
    from napari_catrack.figures.transients import raster_figure, traces_figure

    times = np.array([0.0, 0.1, 0.25, 0.3, 0.5, 0.6])  # an irregular clock (dropped frames)
    dff = np.array([[0, 0, 1, 0.5, 0, 0], [0, 1, 0, 0, 0, 0]], float)
    table = pd.DataFrame({"neuron_id": [0, 1], "start_frame": [1, 0], "peak_frame": [2, 1],
                          "end_frame": [3, 2]})  # fmt: skip
    fig = traces_figure(dff, 10.0, table, times=times)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), times)
    bar = [t.get_text() for t in fig.axes[0].texts]  # offset traces: a scale bar says ΔF/F
    assert bar and bar[0].strip().endswith("ΔF/F"), bar
    raster = raster_figure(table, [0, 1], 10.0, 6, times=times)
    peaks = [c.get_positions() for c in raster.axes[0].collections]
    np.testing.assert_allclose(np.concatenate(peaks), [0.25, 0.1])


def test_many_neurons_are_a_heat_map_not_hundreds_of_lines():
    from napari_catrack.figures.traces import trace_figure

    n, t = MAX_LINE_NEURONS + 5, 50
    rng = np.random.default_rng(0)
    traces = pd.DataFrame({
        "neuron_id": np.repeat([f"n{i}" for i in range(n)], t),
        "frame": np.tile(np.arange(t), n),
        "time_s": np.tile(np.arange(t) / 4.0, n),
        "dff": rng.normal(size=n * t),
    })  # fmt: skip
    traces.loc[traces.neuron_id == "n3", "dff"] += 100.0  # a row to find in the image
    ids = [f"n{i}" for i in range(n)]
    fig = trace_figure(traces, ids, ["dff"])
    ax = fig.axes[0]
    assert not ax.lines and len(ax.get_images()) == 1
    image = ax.get_images()[0].get_array()
    assert image.shape == (n, t)
    assert int(np.argmax(image.mean(axis=1))) == 3  # rows in the order asked for
    assert ax.get_images()[0].get_extent()[1] == pytest.approx((t - 1) / 4.0 + 0.125)  # seconds
    few = trace_figure(traces, ids[:MAX_LINE_NEURONS], ["dff"])
    assert len(few.axes[0].lines) == MAX_LINE_NEURONS and not few.axes[0].get_images()


def test_line_colours_are_colour_blind_safe():
    from matplotlib.colors import to_hex

    from napari_catrack.figures.ensembles import ensemble_colors
    from napari_catrack.figures.traces import trace_figure

    traces = pd.DataFrame({"neuron_id": np.repeat(["a", "b", "c", "d"], 3),
                           "frame": np.tile(np.arange(3), 4), "dff": np.arange(12.0)})  # fmt: skip
    fig = trace_figure(traces, ["a", "b", "c", "d"], ["dff"])
    colours = [to_hex(line.get_color()).upper() for line in fig.axes[0].lines]
    assert colours == [c.upper() for c in OKABE_ITO[:4]]
    assert [to_hex(c).upper() for c in ensemble_colors(3)] == [c.upper() for c in OKABE_ITO[:3]]


def test_ensemble_figures_count_what_the_tables_hold_and_name_their_input(worm, tmp_path):
    from napari_catrack.commands.ensembles import write_outputs
    from napari_catrack.core.ensembles import find_ensembles, trains_from_table
    from napari_catrack.core.ensembles.params import EnsembleParams

    transients = worm["transients"].tables["transients"]
    n_frames = int(worm["traces"].tables["traces"]["frame"].max()) + 1
    trains = trains_from_table(transients, n_frames=n_frames)
    result = find_ensembles(trains, 10.0, EnsembleParams(seed=0, min_neurons=2))
    write_outputs(result, tmp_path, None, source="my_events.csv")
    events = pd.read_csv(tmp_path / "ensemble_events.csv")
    assert len(events) > 0
    n_ens = int(events.loc[events["ensemble_id"] >= 0, "ensemble_id"].nunique())
    svg = (tmp_path / "ensembles_coactivity.svg").read_text()
    assert f"Coactivity: {len(events)} events, {n_ens} ensembles (my_events.csv)" in svg
    assert f"{len(events)} ensemble events" in (tmp_path / "ensembles_raster.svg").read_text()


def test_transient_traces_of_many_neurons_show_those_with_transients_first():
    """SIMA's 20-frame movie: 5 transients in 51 kept cells, and the figure showed cells 1-17
    (the first 10), two of them with a transient: what was found was not shown."""
    from napari_catrack.figures.transients import traces_figure

    rng = np.random.default_rng(0)
    dff = rng.normal(0, 0.1, (30, 50))
    ids = np.arange(101, 131)
    active = [105, 112, 120, 129]  # one before the 10th row, three after
    table = pd.DataFrame({"neuron_id": active, "start_frame": 10, "peak_frame": 12,
                          "end_frame": 15})  # fmt: skip
    fig = traces_figure(dff, 10.0, table, ids)
    shown = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(shown) == 10
    assert shown[:4] == ["105", "112", "120", "129"]  # then the others, in order
    assert shown[4:] == ["101", "102", "103", "104", "106", "107"]
    assert "10 shown, those with transients first" in fig.axes[0].get_title()
    few = traces_figure(dff[:5], 10.0, table, ids[:5])  # all fit: the table's order, all shown
    assert [t.get_text() for t in few.axes[0].get_yticklabels()] == list(map(str, ids[:5]))
    assert "all shown" in few.axes[0].get_title()
