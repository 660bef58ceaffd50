"""CNMF dF/F of cells on a dim background, and each cell's `dff_kind` (h20).

A CNMF trace (C + residual) rests at ~0: its baseline is in the background under the cell. dF/F
is then (raw - F0) / (F0 + B0). Before h20 a cell whose F0 + B0 was under 3 noise s.d. got plain
dF in its `dff` (SIMA: 23 of 164 cells, values of 1,800-2,700 under a "ΔF/F" axis), and nothing
but a warning said which.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.core.sources.dff import DF, DFF, dff_and_kind, dff_with_background
from tests.conftest import shared_data


def _cnmf_cell(t=3000, fps=10.0, seed=0):
    """C >= 0 resting at 0 (sparse transients of 10 noise s.d.) plus unit-s.d. noise."""
    rng = np.random.default_rng(seed)
    C = np.zeros(t)
    for s in range(40, t, 150):
        C[s:] += 10.0 * np.exp(-np.arange(t - s) / (1.0 * fps))
    return C, C + rng.normal(0, 1.0, t)


def test_a_dim_cell_on_a_background_of_3_noise_sd_gets_its_true_dff():
    """Background 3 noise s.d.: the fluorescence the cell sits on is 3, so dF/F = C / 3.
    Fails before h20: the cell got dF (C + 1.3, 3x the truth) — and with a 10th-percentile F0
    of a trace resting at 0 (-1.3 noise s.d.) the ratio was 1.8x the truth."""
    C, raw = _cnmf_cell()
    bg = np.full_like(raw, 3.0)
    truth = C / 3.0
    notes: list[str] = []
    dff = dff_with_background(raw[None], bg[None], 10.0, 30.0, baseline="caiman", notes=notes)[0]
    assert not notes
    slope, icpt = np.polyfit(truth, dff, 1)
    assert abs(slope - 1) < 0.1 and abs(icpt) < 0.15, (slope, icpt)
    peaks = truth > 0.8 * truth.max()
    assert abs(np.median(dff[peaks] / truth[peaks]) - 1) < 0.1


def test_each_cell_says_whether_its_dff_is_a_ratio():
    """dF/F where F0 + B0 is there; dF (named, in the trace's units) where it is not: no
    background under a trace resting at 0, or a background at 0."""
    _, raw = _cnmf_cell(t=1200)
    raws = np.stack([raw, raw, raw])
    bg = np.stack([np.full_like(raw, 3.0), np.full_like(raw, 50.0), np.zeros_like(raw)])
    notes: list[str] = []
    dff, kind = dff_and_kind(raws, bg, 10.0, baseline="caiman", notes=notes, ids=[7, 8, 9])
    assert list(kind) == [DFF, DFF, DF]
    assert len(notes) == 1 and "1 of 3 cells" in notes[0] and "(cells 9)" in notes[0]
    np.testing.assert_allclose(dff[1], dff[0] * (3.0 / 50.0), rtol=0.05, atol=0.02)
    assert np.nanmax(dff[2]) > 5  # dF: the trace's units, not a ratio
    _, kind = dff_and_kind(raws, None, 10.0, baseline="caiman")
    assert list(kind) == [DF, DF, DF]
    f0 = 400.0  # a trace that kept its baseline (suite2p's F - 0.7 Fneu): a ratio without bg
    _, kind = dff_and_kind(raws + f0, None, 10.0)
    assert list(kind) == [DFF] * 3


def test_extraction_records_dff_kind_and_gives_sima_cells_a_dff(tmp_path):
    """SIMA's 20 frames: before h20, 23 of 164 components (2 accepted) had dF in `dff` (up to
    2,700); now every component's dff is a ratio of the size of its neighbours', and
    components.csv says so in `dff_kind`."""
    from napari_catrack.cli import main

    movie = shared_data("sima", "example.tif")
    assert main(["sources", str(movie), "--fps", "10", "-o", str(tmp_path / "s")]) == 0
    comps = pd.read_csv(tmp_path / "s" / "components.csv")
    traces = pd.read_csv(tmp_path / "s" / "traces.csv")
    assert "dff_kind" in comps.columns
    assert set(comps["dff_kind"]) == {DFF}
    peak = traces.groupby("neuron_id")["dff"].max()
    assert peak.max() < 20, peak.sort_values().tail()


def test_export_figures_leave_dF_cells_off_their_dF_F_axes(tmp_path):
    """A cell whose dff is dF (`dff_kind`) set a "ΔF/F" axis's scale with numbers in the
    thousands (SIMA, h19 walk): the dF/F figures leave it out and count it in the title; the
    raster (events only, no dF/F axis) keeps it."""
    from napari_catrack.core.transients import empty_table
    from napari_catrack.core.transients.params import TransientParams
    from napari_catrack.core.transients.records import record_transients
    from napari_catrack.export.figures import build_figure
    from tests.core._session_helpers import two_photon_session

    session, _ = two_photon_session(tmp_path / "s")  # cell 3 rejected ("auto: low snr")
    comps = session["sources"].tables["components"]
    comps["dff_kind"] = [DFF, DF, DFF, DFF]  # cell 2's dff is dF
    rows = empty_table().reindex(range(2))
    rows = rows.assign(neuron_id=[1, 2], start_frame=[10, 20], peak_frame=[12, 22],
                       end_frame=[15, 25], peak_amplitude=[0.5, 900.0])  # fmt: skip
    record_transients(session, rows, None, TransientParams(), fps=session.frame_rate(), save=False)

    fig = build_figure(session, "transients_traces")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["1", "4"]
    title = fig.axes[0].get_title()
    assert "1 rejected cell left out" in title and "1 cell with dF, not dF/F, left out" in title
    amps = build_figure(session, "transients_amplitudes").axes[0]
    assert "n = 1" in amps.get_title() and "dF, not dF/F" in amps.get_title()
    raster = build_figure(session, "transients_raster").axes[0]
    assert [t.get_text() for t in raster.get_yticklabels()] == ["1", "2", "4"]
    assert "dF, not dF/F" not in raster.get_title()
    assert build_figure(session, "traces_heatmap").axes[0].images[0].get_array().shape[0] == 2
    lines = build_figure(session, "traces").axes[0].get_legend_handles_labels()[1]
    assert "2" not in lines and "1" in lines


def test_trace_panels_never_draw_dF_under_a_dF_F_axis():
    """The Traces widget's panels (figures.traces.draw_trace_panels): a dF cell selected with
    dF/F cells is left off the dF/F panel and named there (its raw panel keeps it); selected
    alone, its panel's axis says dF."""
    from matplotlib.figure import Figure

    from napari_catrack.figures.style import DFF_LABEL
    from napari_catrack.figures.traces import DF_LABEL, draw_trace_panels

    frames = np.arange(50)
    traces = pd.DataFrame({
        "neuron_id": np.repeat(["1", "2"], 50), "frame": np.tile(frames, 2),
        "green": np.r_[np.full(50, 100.0), np.full(50, 2000.0)],
        "dff": np.r_[np.sin(frames / 5.0), 2000 + 500 * np.sin(frames / 5.0)],
    })  # fmt: skip
    axes = Figure().subplots(2, 1)
    draw_trace_panels(axes, traces, ["1", "2"], ["green", "dff"], df_ids=["2"])
    assert [ln.get_label() for ln in axes[0].lines] == ["1", "2"]
    assert [ln.get_label() for ln in axes[1].lines] == ["1"]
    assert axes[1].get_ylabel() == DFF_LABEL
    assert any("not drawn (dF, not dF/F): 2" in t.get_text() for t in axes[1].texts)
    axes = Figure().subplots(1, 1, squeeze=False)[:, 0]
    draw_trace_panels(axes, traces, ["2"], ["dff"], df_ids=["2"])
    assert axes[0].get_ylabel() == DF_LABEL and len(axes[0].lines) == 1


def _session_with_a_dF_cell(tmp_path):
    """A saved two-photon session (tmp_path / "s") whose sources say cell 2 is dF, not dF/F;
    the session and its traces table."""
    from tests.core._session_helpers import two_photon_session

    session, _ = two_photon_session(tmp_path / "s")
    comps = session["sources"].tables["components"].copy()
    comps["dff_kind"] = [DFF, DF, DFF, DFF]
    session.record("sources", tables={"components": comps}, attrs={"fps": 10.0})
    traces = session["traces"].tables["traces"]
    session.record("traces", tables={"traces": traces}, attrs={"fps": 10.0, "source": "sources"})
    session.save()
    return session, traces


def test_cells_table_and_transient_figures_of_the_cli_say_which_cells_are_dF(tmp_path):
    """`catrack transients --session`: the cells table (CSV and session) says each cell's
    dff_kind, and the dF/F figures leave the dF cell out, counted (the raster keeps it)."""
    from napari_catrack.cli import main
    from napari_catrack.session import Session

    session, traces = _session_with_a_dF_cell(tmp_path)
    traces[["neuron_id", "frame", "time_s", "dff"]].to_csv(tmp_path / "t.csv", index=False)
    code = main(["transients", str(tmp_path / "t.csv"), "--method", "ksigma", "--k", "1",
                 "-o", str(tmp_path / "tr.csv"), "--cells", str(tmp_path / "c.csv"),
                 "--figures", str(tmp_path / "f"), "--figure-format", "svg",
                 "--session", str(session.path)])  # fmt: skip
    assert code == 0
    cells = pd.read_csv(tmp_path / "c.csv").set_index("neuron_id")
    assert cells["dff_kind"].to_dict() == {1: DFF, 2: DF, 3: DFF, 4: DFF}
    stored = Session.load(session.path)["transients"].tables["cells"]
    assert dict(zip(stored["neuron_id"].astype(str), stored["dff_kind"])) == {"1": DFF, "2": DF, "3": DFF, "4": DFF}  # fmt: skip
    svg = (tmp_path / "f" / "transients_traces.svg").read_text()
    assert "1 cell with dF, not dF/F, left out" in svg
    assert "dF, not dF/F" not in (tmp_path / "f" / "transients_raster.svg").read_text()


def test_nwb_dff_series_names_its_dF_cells(tmp_path):
    """The NWB DfOverF series of a session with a dF cell says which ROIs hold dF."""
    from pynwb import NWBHDF5IO

    from napari_catrack.io.nwb import write_nwb
    from tests.core._session_helpers import two_photon_session

    session, _ = two_photon_session(tmp_path / "s")
    session["sources"].tables["components"]["dff_kind"] = [DFF, DF, DFF, DFF]
    meta = {"session_start_time": "2024-05-01T10:00:00+02:00", "experimenter": ["Doe, Jane"],
            "institution": "Test institute", "experiment_description": "synthetic test session",
            "subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "U", "age": "P90D"}}  # fmt: skip
    path = write_nwb(session, tmp_path / "tp.nwb", metadata=meta)
    with NWBHDF5IO(str(path), "r") as io:
        text = io.read().processing["ophys"]["DfOverF"]["dff"].description
    assert "neuron_id 2 hold dF, not dF/F" in text


def test_event_triggered_averages_leave_dF_cells_out_of_a_dF_F_average(tmp_path, capsys):
    """The ETA averaged every cell's dff, a dF cell's too (values in the trace's units, under a
    dF/F axis). `traces_for_eta` now leaves such cells out of a dF/F signal, counted: `catrack
    events` says so, its figure's title counts them as the export's figures do, the session's
    eta step records them (the export's eta figure counts them too); another signal keeps them,
    and a session whose every cell is dF is refused for dF/F with one line."""
    import pytest

    from napari_catrack.cli import main
    from napari_catrack.core.events.session import traces_for_eta
    from napari_catrack.errors import InputError
    from napari_catrack.export.figures import build_figure
    from napari_catrack.session import Session
    from tests.core._session_helpers import two_photon_session

    session, _ = two_photon_session(tmp_path / "s")
    session["sources"].tables["components"]["dff_kind"] = [DFF, DF, DFF, DFF]  # cell 2: dF
    session.record("sources", tables={"components": session["sources"].tables["components"]})
    session.save()
    picked = traces_for_eta(session, "dff")
    assert sorted(map(str, picked.ids)) == ["1", "3", "4"] and picked.df_left_out == ["2"]
    assert picked.values.shape[0] == 3
    assert len(traces_for_eta(session, "raw").ids) == 4  # not dF/F: every cell, none left out
    (tmp_path / "ev.csv").write_text("event,time_s\ntone,1.5\ntone,2.5\ntone,3.5\n")
    out = tmp_path / "out"
    assert main(["events", str(session.path), "--events", str(tmp_path / "ev.csv"),
                 "--pre-s", "1", "--post-s", "1", "--response-end-s", "1",
                 "--n-shuffles", "50", "-o", str(out)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "1 cell with dF, not dF/F, left out of the averages: 2 (dff_kind dF" in err
    assert set(pd.read_csv(out / "eta.csv")["neuron_id"]) == {1, 3, 4}
    assert "1 cell with dF, not dF/F, left out" in (out / "figures" / "eta.svg").read_text()
    again = Session.load(session.path)
    assert list(again["eta"].attrs["df_left_out"]) == ["2"]
    fig = build_figure(again, "eta")
    assert any("1 cell with dF, not dF/F, left out" in ax.get_title() for ax in fig.axes) or (
        fig._suptitle is not None
        and "1 cell with dF, not dF/F, left out" in fig._suptitle.get_text()
    )
    session["sources"].tables["components"]["dff_kind"] = DF
    with pytest.raises(InputError, match="every cell's dff is dF, not dF/F.*another signal"):
        traces_for_eta(session, "dff")


def test_transients_of_another_table_take_no_dff_kind_from_the_session(tmp_path, capsys):
    """`catrack transients OTHER.csv --session`: the session's components say which of ITS
    traces are dF; another table whose cells share the ids is not labelled by them (before h21
    its cell 2 was called dF and left out of the dF/F figures), and a warning says so."""
    from napari_catrack.cli import main
    from napari_catrack.session import Session

    session, traces = _session_with_a_dF_cell(tmp_path)
    other = traces[["neuron_id", "frame", "time_s", "dff"]].copy()
    other["dff"] = other["dff"] * 0.5 + 0.01  # another table (another extraction, say)
    other.to_csv(tmp_path / "other.csv", index=False)
    code = main(["transients", str(tmp_path / "other.csv"), "--method", "ksigma", "--k", "1",
                 "-o", str(tmp_path / "tr.csv"), "--cells", str(tmp_path / "c.csv"),
                 "--figures", str(tmp_path / "f"), "--figure-format", "svg",
                 "--session", str(session.path)])  # fmt: skip
    assert code == 0
    assert "not the session's traces table" in capsys.readouterr().err
    assert "dff_kind" not in pd.read_csv(tmp_path / "c.csv")
    stored = Session.load(session.path)["transients"].tables["cells"]
    assert "dff_kind" not in stored
    assert "dF, not dF/F" not in (tmp_path / "f" / "transients_traces.svg").read_text()
