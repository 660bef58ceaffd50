"""NWB export: nwbinspector finds nothing critical, and pynwb reads back the session's numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.errors import InputError

from ._session_helpers import FPS, inspect_problems, two_photon_session, worm_session

META = {
    "session_start_time": "2024-05-01T10:00:00+02:00",
    "experimenter": ["Doe, Jane"],
    "institution": "Test institute",
    "experiment_description": "synthetic test session",
    "keywords": ["calcium imaging"],
    "subject": {"subject_id": "worm1", "species": "Caenorhabditis elegans", "sex": "XX",
                "age": "P3D", "description": "young adult"},
}  # fmt: skip


@pytest.fixture(scope="module")
def worm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nwb_worm")
    session, syn = worm_session(folder)
    from napari_catrack.io.nwb import write_nwb

    return session, syn, write_nwb(session, folder / "out" / "worm.nwb", metadata=META)


def test_worm_session_passes_nwbinspector(worm):
    assert inspect_problems(worm[2]) == []


def test_worm_session_reads_back_to_the_same_numbers(worm):
    from pynwb import NWBHDF5IO

    session, syn, path = worm
    traces = session["traces"].tables["traces"]
    ids = list(dict.fromkeys(traces["neuron_id"].astype(str)))
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        ophys = nwb.processing["ophys"]
        dff = ophys["DfOverF"]["dff"]
        np.testing.assert_allclose(dff.data[:], syn.dff.T)
        assert dff.rate == FPS and dff.starting_time == 0.0
        np.testing.assert_allclose(ophys["Fluorescence"]["green"].data[:], 100 * (1 + syn.dff.T))
        assert list(ophys["Fluorescence"].roi_response_series) == ["green", "ratio", "red"]
        # a ratio recording's dff is the ratio's dR/R0, and the description says which it is
        assert dff.description == "dR/R0 of the green / red ratio (two-channel recording)"
        assert "{" not in nwb.acquisition[next(iter(nwb.acquisition))].description
        seg = ophys["ImageSegmentation"]["PlaneSegmentation"].to_dataframe()
        assert seg["neuron_id"].tolist() == ids
        assert seg["status"].tolist()[:3] == ["accepted", "rejected", "unverified"]
        assert seg["status_reason"].iloc[1] == "out of focus"
        tracks = session["tracks"].tables["tracks"]
        first = tracks[tracks.neuron_id.astype(str) == ids[2]]
        pos = ophys["NeuronPositions"][f"neuron_{ids[2]}"]
        np.testing.assert_allclose(pos.data[:], first[["x", "y"]].to_numpy())
        assert pos.unit == "meters" and pos.conversion == pytest.approx(0.5e-6)
        mask = seg["pixel_mask"].iloc[2]
        # NWB's (x, y) are the (row, column) of the image, as in image_mask and suite2p's writer
        rows, cols = np.array([p[0] for p in mask]), np.array([p[1] for p in mask])
        assert abs(rows.mean() - first.y.iloc[0]) < 1 and abs(cols.mean() - first.x.iloc[0]) < 1
        # transients with their cell's verdict
        tr = nwb.intervals["transients"].to_dataframe()
        table = session["transients"].tables["transients"]
        assert len(tr) == len(table)
        np.testing.assert_allclose(np.sort(tr.start_time), np.sort(table.start_frame / FPS))
        rejected = tr[tr.neuron_id == ids[1]]
        assert len(rejected) and (rejected.cell_status == "rejected").all()
        # imaging linked, not copied
        green = nwb.acquisition["ImagingGreen"]
        assert green.external_file[0] == "../rec.tif" and green.num_samples == len(syn.frame_times)
        assert nwb.acquisition["BehaviorVideo"].external_file[0] == "../behaviour.avi"
        # behaviour
        beh = nwb.processing["behavior"]
        vel = session["velocity"].tables["velocity"]
        np.testing.assert_allclose(beh["Velocity"]["speed"].data[:], vel.speed_um_s)
        np.testing.assert_allclose(beh["BodyPosition"]["centroid"].data[:, 0], vel.x_um)
        np.testing.assert_allclose(beh["BodyPosition"]["stage"].data[:, 1],
                                   session["velocity"].tables["stage"].stage_y_um)  # fmt: skip
        assert beh["centerline"].data.shape == (len(syn.frame_times), 5, 2)
        assert "curvature" in beh["Posture"].time_series
        # events on the imaging clock and the ETA statistics
        ev = nwb.get_events_table("behavior_events").to_dataframe()
        aligned = session["events"].tables["events"]
        np.testing.assert_allclose(np.sort(ev.timestamp), np.sort(aligned.time_s))
        for kind, times in syn.event_times.items():
            np.testing.assert_allclose(np.sort(ev[ev.event == kind].timestamp), times, atol=1e-9)
        sig = nwb.analysis["eta_significance"].to_dataframe()
        np.testing.assert_allclose(sig.p_value, session["eta"].tables["significance"].p_value)
        eta = nwb.analysis["event_triggered_averages"].to_dataframe()
        assert eta["mean"].iloc[0].shape == eta["lags_s"].iloc[0].shape


def test_two_photon_footprints_round_trip(tmp_path):
    from pynwb import NWBHDF5IO

    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.io.nwb_ophys import read_masks

    session, footprints = two_photon_session(tmp_path)
    path = write_nwb(session, tmp_path / "tp.nwb", metadata=META)
    assert inspect_problems(path) == []
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert type(nwb.acquisition["Imaging"]).__name__ == "TwoPhotonSeries"
        ophys = nwb.processing["ophys"]
        ps = ophys["ImageSegmentation"]["PlaneSegmentation"]
        np.testing.assert_allclose(np.asarray(read_masks(ps)), footprints, rtol=1e-6)
        seg = ps.to_dataframe()
        assert seg["status"].tolist() == ["unverified", "unverified", "rejected", "unverified"]
        raw = (
            session["traces"]
            .tables["traces"]
            .pivot(index="frame", columns="neuron_id", values="raw")
        )
        np.testing.assert_allclose(ophys["Fluorescence"]["raw"].data[:], raw.to_numpy())
        assert "deconvolved" in ophys["Fluorescence"].roi_response_series


def test_metadata_is_checked(tmp_path):
    from napari_catrack.io.nwb import check_metadata, read_metadata

    (tmp_path / "m.yaml").write_text("subject:\n  subject_id: w\n  specis: worm\n")
    with pytest.raises(InputError, match="unknown subject key.*specis"):
        read_metadata(tmp_path / "m.yaml")
    with pytest.raises(InputError, match="not an ISO time"):
        check_metadata({"session_start_time": "yesterday"})
    t = check_metadata({"session_start_time": "2024-05-01 10:00"})["session_start_time"]
    assert t.tzinfo is not None and t.hour == 10


def test_export_nwb_command(tmp_path, capsys):
    session, _ = two_photon_session(tmp_path)
    (tmp_path / "meta.yaml").write_text(
        "session_start_time: 2024-05-01T10:00:00+00:00\nsubject: {subject_id: m1, species: Mus musculus}\n"
    )
    out = tmp_path / "x.nwb"
    rc = main(
        ["export-nwb", str(session.path), "-o", str(out), "--metadata", str(tmp_path / "meta.yaml")]
    )
    assert rc == 0 and out.is_file()
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert nwb.subject.species == "Mus musculus"
        assert nwb.session_start_time.year == 2024
    assert main(["export-nwb", str(tmp_path / "none.catrack.h5"), "-o", str(out)]) == 2
    assert "session file not found" in capsys.readouterr().err


def test_prompted_metadata():
    from napari_catrack.commands.export_nwb import prompt_metadata

    answers = iter(["w7", "Caenorhabditis elegans", "", "Doe, J"])
    meta = prompt_metadata(lambda _: next(answers))
    assert meta == {"subject": {"subject_id": "w7", "species": "Caenorhabditis elegans"},
                    "experimenter": ["Doe, J"]}  # fmt: skip


def test_metadata_values_are_checked(tmp_path):
    from napari_catrack.io.nwb import check_metadata

    for meta, message in (
        ({"imaging": {"excitation_lambda": "blue"}}, "imaging excitation_lambda must be a positive"),
        ({"imaging": {"green_emission_lambda": -488}}, "green_emission_lambda must be a positive"),
        ({"identifier": ["a", "b"]}, "identifier must be a text or a number"),
        ({"experimenter": 5}, "experimenter must be a text or a list of texts"),
        ({"keywords": 7}, "keywords must be a text or a list"),
        ({"lab": {"name": "x"}}, "lab must be a text"),
        ({"subject": {"species": 3}}, "subject species must be a text"),
        ({"subject": {"date_of_birth": "soon"}}, "subject date_of_birth 'soon' is not an ISO time"),
    ):  # fmt: skip
        with pytest.raises(InputError, match=message):
            check_metadata(meta, where="m.yaml")
    ok = check_metadata({"session_id": 7, "subject": {"subject_id": 12, "weight": 0.02},
                         "imaging": {"excitation_lambda": 488}, "keywords": ["a", "b"]})  # fmt: skip
    assert ok["session_id"] == "7" and ok["subject"]["subject_id"] == "12"
    assert ok["imaging"]["excitation_lambda"] == 488.0
    session, _ = two_photon_session(tmp_path)
    (tmp_path / "m.yaml").write_text("imaging: {excitation_lambda: blue}\n")
    out = tmp_path / "b.nwb"
    assert main(["export-nwb", str(session.path), "-o", str(out), "--metadata",
                 str(tmp_path / "m.yaml")]) == 2  # fmt: skip
    assert not out.exists()


@pytest.mark.parametrize(
    "text, where_and_what",
    [
        ("subject: {subject_id: m1, species: Mus musculus\nexperimenter: [Doe]\n",
         "line 2, column 13: expected ',' or '}', but got ':' (while parsing a {...} mapping "
         "started at line 1, column 10)"),
        ("session_description: a\n  identifier: b\n",
         "line 2, column 13: mapping values are not allowed here"),
        ("lab: x\n\tinstitution: y\n",
         "line 2, column 1: found character '\\t' that cannot start any token (while scanning "
         "for the next token); YAML indents with spaces, not tabs"),
        ('lab: "x\n', "line 2, column 1: found unexpected end of stream (while scanning a quoted "
         "scalar started at line 1, column 6)"),
    ],
)  # fmt: skip
def test_bad_metadata_yaml_is_one_line_naming_file_line_and_column(
    tmp_path, capsys, text, where_and_what
):
    """PyYAML's message spans 4-7 lines with a copy of the text and a caret; the error is one
    line: the file, the line and column (1-based), what is wrong. Nothing is written."""
    session, _ = two_photon_session(tmp_path / "s")
    meta = tmp_path / "meta.yaml"
    meta.write_text(text)
    out = tmp_path / "x.nwb"
    capsys.readouterr()
    assert main(["export-nwb", str(session.path), "-o", str(out), "--metadata", str(meta)]) == 2
    err = capsys.readouterr().err
    assert err == f"catrack: error: metadata file {meta}: {where_and_what}\n"
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["meta.yaml", "s"]
    # `catrack export` reads the same file the same way, before writing anything
    assert main(["export", str(session.path), "-o", str(tmp_path / "exp"), "--metadata", str(meta)]) == 2  # fmt: skip
    assert capsys.readouterr().err == err and not (tmp_path / "exp").exists()


def test_metadata_that_is_not_utf8_text_is_one_line(tmp_path):
    from napari_catrack.io.nwb import read_metadata

    (tmp_path / "m.yaml").write_bytes(b"\xff\xfe lab: x\n")
    with pytest.raises(InputError, match=r"^metadata file .*m\.yaml is not UTF-8 text \(byte 0\)"):
        read_metadata(tmp_path / "m.yaml")
    with pytest.raises(InputError, match="metadata file is a folder, not a file"):
        read_metadata(tmp_path)


@pytest.fixture
def berlin_time(monkeypatch):
    """This computer's time zone is Europe/Berlin for the test (CEST, +02:00, in May)."""
    import time

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_date_only_session_start_time_says_it_is_taken_as_local_midnight(
    tmp_path, capsys, berlin_time
):
    """Documented, but it was not said: a date alone became local midnight in silence. The
    command now says so in one warning line naming the value and the time zone used."""
    from pynwb import NWBHDF5IO

    session, _ = two_photon_session(tmp_path / "s")
    meta = tmp_path / "meta.yaml"
    meta.write_text("session_start_time: 2024-05-01\nsubject: {subject_id: m1, species: Mus musculus}\n")  # fmt: skip
    out = tmp_path / "x.nwb"
    capsys.readouterr()
    assert main(["export-nwb", str(session.path), "-o", str(out), "--metadata", str(meta)]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warned == [
        "catrack export-nwb: warning: meta.yaml: session_start_time 2024-05-01 has no time of day: "
        "taken as midnight local time, 2024-05-01T00:00:00+02:00 (CEST, this computer's time "
        "zone); write the time and zone (e.g. 2024-05-01T10:30:00+02:00) if that is not when it "
        "began"
    ]
    with NWBHDF5IO(str(out), "r") as io:
        start = io.read().session_start_time
    assert start.isoformat() == "2024-05-01T00:00:00+02:00"
    # a time without a zone is said the same way; a full time with its zone says nothing
    meta.write_text("session_start_time: 2024-05-01 10:30\nsubject: {subject_id: m1, species: Mus musculus}\n")  # fmt: skip
    assert main(["export-nwb", str(session.path), "-o", str(out), "--metadata", str(meta)]) == 0
    err = capsys.readouterr().err
    assert "session_start_time 2024-05-01 10:30 has no time zone: taken as local time, 2024-05-01T10:30:00+02:00 (CEST" in err  # fmt: skip
    meta.write_text("session_start_time: 2024-05-01T10:30:00+02:00\nsubject: {subject_id: m1, species: Mus musculus, date_of_birth: 2024-02-01}\n")  # fmt: skip
    assert main(["export-nwb", str(session.path), "-o", str(out), "--metadata", str(meta)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_export_nwb_never_writes_over_the_session_recording_or_other_files(tmp_path, capsys):
    session, _ = two_photon_session(tmp_path)
    recording = session.recording["path"]
    protected = {p: open(p, "rb").read() for p in (session.path, recording)}
    for target, message in (
        (session.path, "ends in .nwb"),
        (recording, "ends in .nwb"),
        (tmp_path / "x.h5", "ends in .nwb"),
    ):
        assert main(["export-nwb", str(session.path), "-o", str(target), "--no-prompt"]) == 2
        assert message in capsys.readouterr().err
    other = tmp_path / "theirs.nwb"
    other.write_text("not ours\n")
    assert main(["export-nwb", str(session.path), "-o", str(other), "--no-prompt"]) == 2
    assert "not an NWB file written by napari-catrack" in capsys.readouterr().err
    assert other.read_text() == "not ours\n"
    from napari_catrack.commands._common import check_outputs, session_inputs

    with pytest.raises(InputError, match="would overwrite the input recording of SESSION"):
        check_outputs({"-o": recording}, session_inputs(session))
    assert all(open(p, "rb").read() == data for p, data in protected.items())
    ours = tmp_path / "ours.nwb"
    for _ in range(2):  # an NWB file it wrote is replaced
        assert main(["export-nwb", str(session.path), "-o", str(ours), "--no-prompt"]) == 0


def test_export_nwb_links_the_recording_from_any_working_folder(tmp_path, monkeypatch, capsys):
    """A session made with working-folder paths (`catrack demo -o sub`) links its imaging when
    exported from inside its folder or from elsewhere (docs review 7, item 1)."""
    from pathlib import Path

    from pynwb import NWBHDF5IO

    monkeypatch.chdir(tmp_path)
    session, _ = two_photon_session(Path("sub"))
    assert session.recording["path"] == str(Path("sub") / "movie.tif")
    (tmp_path / "elsewhere").mkdir()
    for folder, session_file in (
        ("sub", "movie.catrack.h5"),
        ("elsewhere", str(tmp_path / "sub" / "movie.catrack.h5")),
    ):
        monkeypatch.chdir(tmp_path / folder)
        assert main(["export-nwb", session_file, "-o", "x.nwb", "--no-prompt"]) == 0
        assert "imaging not linked" not in capsys.readouterr().err
        with NWBHDF5IO("x.nwb", "r") as io:
            imaging = io.read().acquisition["Imaging"]
            linked = (tmp_path / folder / imaging.external_file[0]).resolve()
            assert linked == (tmp_path / "sub" / "movie.tif").resolve()


def test_an_unknown_velocity_direction_stays_empty_in_the_session_export_and_nwb(tmp_path):
    """Review (h9): `catrack velocity --tracks` (no centerline, no head) wrote direction 0,
    "still" by the contract, in every frame of a crawling worm. Unknown is empty (NA) now, and
    the readers of velocity tables (session file, export, NWB, figures, plot dock) keep it so."""
    from pynwb import NWBHDF5IO

    from napari_catrack.core.behaviour import VelocityParams, compute_velocity
    from napari_catrack.core.behaviour.records import record_velocity
    from napari_catrack.core.behaviour.velocity import direction_values
    from napari_catrack.export.write import export_session
    from napari_catrack.figures.behaviour import draw_velocity_panel, speed_figure
    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.session import Session

    session, _ = worm_session(tmp_path / "w", video=False)
    old = session["velocity"].tables["velocity"]
    n = len(old)
    t = old["time_s"].to_numpy(float)
    pos = np.stack([np.full(n, 12.0), np.where(t < 30, 12.0, 12.0 + 10 * (t - 30))], axis=1)
    table = compute_velocity(pos, t, np.zeros((n, 2)), (24, 32),
                             VelocityParams(pixel_size_um=5.0))  # fmt: skip
    unknown = table["direction"].isna().to_numpy()
    assert unknown.sum() > 10 and (table.loc[~unknown, "direction"] == 0).all()
    record_velocity(session, table, {}, {"source": "tracks"})
    session.save()
    back = Session.load(session.path)["velocity"].tables["velocity"]
    assert str(back["direction"].dtype) == "Int64"
    np.testing.assert_array_equal(back["direction"].isna().to_numpy(), unknown)
    export_session(Session.load(session.path), tmp_path / "export")
    (written,) = (tmp_path / "export").rglob("velocity.csv")
    cells = [row.rsplit(",", 1)[1] for row in written.read_text().splitlines()[1:]]
    assert set(cells) == {"", "0"} and cells.count("") == unknown.sum()  # not "0.0"/"nan"
    path = write_nwb(Session.load(session.path), tmp_path / "worm.nwb", metadata=META)
    assert inspect_problems(path) == []
    with NWBHDF5IO(str(path), "r") as io:
        data = io.read().processing["behavior"]["Velocity"]["direction"].data[:]
    np.testing.assert_array_equal(np.isnan(data), unknown)
    assert (data[~unknown] == 0).all()
    d = direction_values(back)
    assert np.isnan(d[unknown]).all() and not (d < 0).any()
    speed_figure(back)  # the shading of backward frames leaves unknown ones out
    fig = speed_figure(table)
    draw_velocity_panel(fig.axes[0], back)


def test_behaviour_video_series_keep_the_video_clock_and_pixel_size(worm, tmp_path):
    """Review (h11): the centerline was written at the recording's pixel size (0.45 µm in the
    demo, its behaviour camera has 8 µm) and the centerline and posture at the imaging rate
    (10 Hz, the demo's video is 15 Hz): lengths 18x too small, a 20 s video stretched to 30 s."""
    from pynwb import NWBHDF5IO

    from napari_catrack.io.nwb import write_nwb

    session, syn, path = worm  # its video is lined up: syn.video_fps from syn.video_start_s
    with NWBHDF5IO(str(path), "r") as io:
        beh = io.read().processing["behavior"]
        stage = beh["BodyPosition"]["stage"]  # its log's clock is the velocity's own
        for series in (beh["centerline"], beh["Posture"]["curvature"], beh["Velocity"]["speed"],
                       stage):  # fmt: skip
            assert series.rate == pytest.approx(syn.video_fps) != FPS
            assert series.starting_time == pytest.approx(syn.video_start_s)
        assert beh["centerline"].unit == "pixels"  # no behaviour pixel size in this session

    session, _ = worm_session(tmp_path / "s", video=False)  # no video lined up
    vel = session["velocity"].tables["velocity"]
    vel = vel.assign(time_s=vel["frame"] / 15.0)  # the behaviour camera's own 15 Hz
    session.record("velocity", tables={"velocity": vel}, attrs={"source": "centerline"},
                   params={"pixel_size_um": 8.0})  # fmt: skip
    posture = session["centerline"].tables["posture"].assign(length_px=50.0, length_um=400.0)
    session.record("centerline", tables={**session["centerline"].tables, "posture": posture})
    out = write_nwb(session, tmp_path / "b.nwb", metadata=META)
    with NWBHDF5IO(str(out), "r") as io:
        beh = io.read().processing["behavior"]
        cl = beh["centerline"]
        assert cl.rate == 15.0 and cl.starting_time == 0.0
        assert cl.unit == "meters" and cl.conversion == pytest.approx(8e-6)  # not the 0.5 µm
        assert beh["Velocity"]["speed"].rate == 15.0
        length = beh["Posture"]["length_um"]
        assert length.rate == 15.0
        assert length.data[0] * length.conversion == pytest.approx(400e-6)
        assert length.unit == "meters" and beh["Posture"]["length_px"].unit == "pixels"


def test_transient_rise_and_decay_times_reach_the_nwb_file(worm):
    """User review (h11): every transient column ending in `_time_s` was dropped as a duplicate
    of start/stop/peak_time, and with them rise_time_s and decay_time_s (the decay constant)."""
    from pynwb import NWBHDF5IO

    session, _, path = worm
    table = session["transients"].tables["transients"]
    table = table.assign(neuron_id=table["neuron_id"].astype(str))  # the writer's row order
    table = table.sort_values(["start_frame", "neuron_id"])
    with NWBHDF5IO(str(path), "r") as io:
        tr = io.read().intervals["transients"].to_dataframe()
    for col in ("rise_time_s", "decay_time_s"):
        assert col in tr.columns, tr.columns
        np.testing.assert_allclose(tr[col].to_numpy(float), table[col].to_numpy(float))
    assert "start_time_s" not in tr.columns  # its start_time already


def test_embed_imaging_of_a_recording_not_on_disk_is_refused_not_a_file_without_it(tmp_path):
    """User review (h11): `export-nwb --embed-imaging` with the recording moved away warned and
    wrote an NWB file with no imaging at all (exit 0): not what was asked, easily uploaded."""
    from napari_catrack.io.nwb import write_nwb

    session, _ = worm_session(tmp_path / "s", video=False)
    (tmp_path / "s" / "rec.tif").rename(tmp_path / "elsewhere.tif")
    with pytest.raises(InputError, match="cannot embed the imaging: the recording .* not on disk"):
        write_nwb(session, tmp_path / "e.nwb", metadata=META, embed_imaging=True)
    assert not (tmp_path / "e.nwb").exists()
    with pytest.warns(UserWarning, match="not on disk; imaging not linked"):
        write_nwb(session, tmp_path / "l.nwb", metadata=META)  # a link-only file: said, written
    assert (tmp_path / "l.nwb").is_file()


def test_export_nwb_says_a_missing_subject_and_start_time(tmp_path, capsys):
    """User review (h11): without a session_start_time the file silently took the session's
    creation time (when the analysis began) as when the recording began."""
    session, _ = worm_session(tmp_path / "s", video=False)
    out = tmp_path / "a.nwb"
    assert main(["export-nwb", str(session.path), "-o", str(out), "--no-prompt"]) == 0
    err = capsys.readouterr().err
    assert "warning: no subject in the metadata" in err
    assert (
        "warning: no session_start_time in the metadata: the file says the session began at "
        f"{session.created}, when this napari-catrack session was created" in err
    )
    (tmp_path / "m.yaml").write_text(
        "session_start_time: 2024-05-01T10:30:00+02:00\nsubject: {subject_id: w, species: C}\n"
    )
    argv = ["export-nwb", str(session.path), "-o", str(out), "--metadata", str(tmp_path / "m.yaml")]
    assert main(argv) == 0
    assert "warning" not in capsys.readouterr().err
    from napari_catrack.session import Session

    empty = Session(tmp_path / "empty.catrack.h5", autosave=False)  # a new, unsaved-into session
    empty.record("settings", attrs={"fps": 10.0})
    empty.save()
    argv[1] = str(empty.path)
    assert main(argv) == 0
    assert "warning: the session holds no recording and no results" in capsys.readouterr().err


def test_eta_tables_name_the_signal_that_was_averaged(tmp_path):
    """User review (h11): the ETA tables said "dF/F" whatever `catrack events --signal` averaged
    (green, ratio, dff_clean, ...)."""
    from pynwb import NWBHDF5IO

    from napari_catrack.io.nwb import write_nwb

    session, _ = worm_session(tmp_path / "s", video=False)
    eta = session["eta"]
    session.record("eta", tables=dict(eta.tables), attrs=dict(eta.attrs),
                   params={**eta.params, "signal": "green"})  # fmt: skip
    with NWBHDF5IO(str(write_nwb(session, tmp_path / "g.nwb", metadata=META)), "r") as io:
        analysis = io.read().analysis
        for name in ("event_triggered_averages", "eta_significance"):
            assert "green (traces column)" in analysis[name].description
            assert "dF/F" not in analysis[name].description
        assert analysis["event_triggered_averages"]["mean"].description == (
            "mean green (traces column) per lag"
        )


def test_the_stage_log_of_a_demo_session_reaches_the_nwb_file(tmp_path):
    """User review (h11): `catrack demo` stored its stage log as a bare "stage.csv" (it is in
    DIR/behaviour/), so the NWB export looked for DIR/stage.csv and left the stage out, silently.
    The demo stores the path now; older sessions are found through the step's provenance."""
    from pynwb import NWBHDF5IO

    from napari_catrack.io.nwb import write_nwb

    session, _ = worm_session(tmp_path / "s", video=False)
    (tmp_path / "s" / "behaviour").mkdir()
    log = tmp_path / "s" / "behaviour" / "stage.csv"
    stage = pd.DataFrame({"frame": [0, 1, 2], "time_s": [0.0, 0.1, 0.2],
                          "stage_y_um": [5.0, 6.0, 7.0], "stage_x_um": [1.0, 2.0, 3.0]})  # fmt: skip
    stage.to_csv(log, index=False)
    vel = session["velocity"].tables["velocity"]
    for attrs in ({"stage": "stage.csv", "inputs": {"stage": {"path": str(log)}}},  # old demo
                  {"stage": session.stored_path(log)}):  # fmt: skip
        session.record("velocity", tables={"velocity": vel}, attrs={"source": "test", **attrs})
        with NWBHDF5IO(str(write_nwb(session, tmp_path / "a.nwb", metadata=META)), "r") as io:
            series = io.read().processing["behavior"]["BodyPosition"]["stage"]
            np.testing.assert_allclose(series.data[:], [[1, 5], [2, 6], [3, 7]])  # (x, y)


def test_a_one_channel_sessions_dff_is_described_as_the_green_channels(tmp_path):
    """The dF/F description said 'ratio-based dR/R0 for two-channel recordings' on one-channel
    data too."""
    from pynwb import NWBHDF5IO

    from napari_catrack.io.nwb import write_nwb

    session, _ = worm_session(tmp_path)
    traces = session["traces"].tables["traces"]
    one = traces.drop(columns=[c for c in ("red", "ratio") if c in traces])
    session.record("traces", tables={"traces": one}, attrs=dict(session["traces"].attrs),
                   params=dict(session["traces"].params), save=False)  # fmt: skip
    path = write_nwb(session, tmp_path / "one.nwb", metadata=META)
    with NWBHDF5IO(str(path), "r") as io:
        dff = io.read().processing["ophys"]["DfOverF"]["dff"]
        assert dff.description == "dF/F of the green channel"


def test_event_durations_are_the_events_tables_intervals(tmp_path):
    """A BIDS events.tsv's durations reach the NWB EventsTable's `duration` column (NaN for an
    event without one, as the NWB schema says); before, every event was a moment."""
    from pynwb import NWBHDF5IO

    from napari_catrack.core.events.align import align_events
    from napari_catrack.core.events.clock import Clock
    from napari_catrack.core.events.params import EventAlignParams
    from napari_catrack.core.events.session import record_events
    from napari_catrack.io.events import read_events
    from napari_catrack.io.nwb import write_nwb

    session, _ = two_photon_session(tmp_path)
    (tmp_path / "events.tsv").write_text(
        "onset\tduration\ttrial_type\n0.5\t1.25\ttone\n1.0\tn/a\tpuff\n"
    )
    imaging = Clock.regular(60, FPS)
    aligned = align_events(read_events(tmp_path / "events.tsv"), imaging, EventAlignParams())
    record_events(
        session,
        aligned,
        imaging,
        EventAlignParams(),
        source=str(tmp_path / "events.tsv"),
        save=False,
    )
    path = write_nwb(session, tmp_path / "ev.nwb", metadata=META)
    assert inspect_problems(path) == []
    with NWBHDF5IO(str(path), "r") as io:
        ev = io.read().get_events_table("behavior_events").to_dataframe()
        assert ev.event.tolist() == ["tone", "puff"]
        np.testing.assert_allclose(ev.timestamp, [0.5, 1.0])
        np.testing.assert_array_equal(ev.duration, [1.25, np.nan])


def test_more_neurons_than_frames_is_time_first_and_said_before_nwbinspector_says_it(
    tmp_path, capsys
):
    """50 neurons over 20 frames: the response series are frames x neurons, as NWB requires,
    but nwbinspector's check_data_orientation (a heuristic: time 'is usually the longest
    dimension') reports them CRITICAL. The export said nothing, and the user had a finding to
    explain: now one warning line says it before, each series' `comments` says it inside the
    file, and under the "dandi" configuration (dandi validate) it is no CRITICAL finding."""
    import yaml
    from pynwb import NWBHDF5IO

    from napari_catrack.io.recording import open_recording
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session

    nwbinspector = pytest.importorskip("nwbinspector")
    n_frames, n_neurons = 20, 50
    rng = np.random.default_rng(0)
    movie = write_movie_tiff(tmp_path / "movie.tif", rng.integers(0, 99, (n_frames, 64, 64),
                             dtype=np.uint16), fps=FPS)  # fmt: skip
    rec = open_recording(movie)
    session = Session(tmp_path / "movie.catrack.h5", autosave=False)
    session.set_recording(str(movie), rec.options, rec.summary())
    rec.close()
    frame, neuron = np.meshgrid(np.arange(n_frames), np.arange(n_neurons))
    traces = pd.DataFrame({"neuron_id": neuron.ravel(), "frame": frame.ravel(),
                           "y": 5.0 + neuron.ravel(), "x": 10.0, "green": 100.0,
                           "dff": rng.normal(size=frame.size)})  # fmt: skip
    session.record("tracks", tables={"tracks": traces[["neuron_id", "frame", "y", "x"]]})
    session.record("traces", tables={"traces": traces}, attrs={"fps": FPS})
    session.save()
    meta = tmp_path / "meta.yaml"
    meta.write_text(yaml.safe_dump(META))
    out = tmp_path / "wide.nwb"
    argv = ["export-nwb", str(session.path), "-o", str(out), "--metadata", str(meta)]
    assert main(argv) == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(said) == 1, said
    assert "the traces (Fluorescence, DfOverF) are 20 frames x 50 neurons" in said[0]
    assert "check_data_orientation" in said[0] and "--config dandi" in said[0]

    with NWBHDF5IO(str(out), "r") as io:
        dff = io.read().processing["ophys"]["DfOverF"]["dff"]
        assert dff.data.shape == (n_frames, n_neurons)  # time first
        want = traces.pivot(index="frame", columns="neuron_id", values="dff").to_numpy()
        np.testing.assert_allclose(dff.data[:], want)
        assert dff.comments.startswith("time is the first axis, as NWB requires: 20 frames x 50")
    found = [(m.importance.name, m.check_function_name, m.location)
             for m in nwbinspector.inspect_nwbfile(nwbfile_path=str(out))]  # fmt: skip
    critical = {f for f in found if f[0] in ("CRITICAL", "ERROR", "PYNWB_VALIDATION")}
    assert critical == {
        ("CRITICAL", "check_data_orientation", "/processing/ophys/Fluorescence/green"),
        ("CRITICAL", "check_data_orientation", "/processing/ophys/DfOverF/dff"),
    }
    dandi = nwbinspector.inspect_nwbfile(
        nwbfile_path=str(out), config=nwbinspector.load_config("dandi")
    )
    assert not [m for m in dandi if m.importance.name in ("CRITICAL", "ERROR", "PYNWB_VALIDATION")]


def test_no_orientation_line_where_frames_outnumber_neurons(worm):
    from napari_catrack.io.nwb import metadata_gaps

    session = worm[0]
    assert not [g for g in metadata_gaps(META, session) if "check_data_orientation" in g]
    with_movie = metadata_gaps(META, session, embed_imaging=True)
    assert not [g for g in with_movie if "check_data_orientation" in g]


def test_an_event_kind_with_one_event_has_no_sem_and_still_reaches_the_nwb_file(tmp_path):
    """Docs run (h16): `catrack events SESSION` with an event kind logged once (its SEM empty at
    every lag), then `catrack export SESSION -o DIR` (docs/export.md) stopped with a traceback
    ("Columns must be the same length"): the SEM table dropped that kind's all-NaN rows while the
    mean table kept them."""
    from pynwb import NWBHDF5IO

    from napari_catrack.io.nwb import write_nwb

    session, _ = worm_session(tmp_path / "s", video=False)
    step = session["eta"]
    eta = step.tables["eta"].copy()
    once = eta["event"].astype(str).unique()[0]
    eta.loc[eta["event"].astype(str) == once, "sem"] = np.nan  # one event: no SEM
    session.record("eta", tables={**step.tables, "eta": eta}, attrs=dict(step.attrs),
                   params=dict(step.params))  # fmt: skip
    with NWBHDF5IO(str(write_nwb(session, tmp_path / "o.nwb", metadata=META)), "r") as io:
        table = io.read().analysis["event_triggered_averages"].to_dataframe()
    pairs = eta.groupby(["neuron_id", "event"])["mean"].count()
    assert len(table) == int((pairs > 0).sum())
    kept = table["event"] == once
    assert kept.any()
    assert all(np.isnan(np.asarray(s, float)).all() for s in table.loc[kept, "sem"])
    assert all(np.isfinite(np.asarray(s, float)).any() for s in table.loc[~kept, "sem"])


def test_steps_the_nwb_file_leaves_out_are_said(tmp_path, capsys):
    """A session's puncta and ensembles steps have no place in the NWB file: the export says so,
    one warning line each (the CLI's stderr, the Export widget's status line), instead of
    writing a file the user takes for the whole analysis (until h20 not a word)."""
    from napari_catrack.io.nwb import metadata_gaps
    from napari_catrack.session import Session

    session = Session(tmp_path / "p.catrack.h5", autosave=False)
    session.record("settings", attrs={"fps": 10.0})
    meta = {"subject": {"subject_id": "w", "species": "C"}, "session_start_time": "2024-05-01"}
    assert not [g for g in metadata_gaps(meta, session) if "not written to NWB" in g]
    locs = pd.DataFrame({"frame": [0, 1], "x": [3.0, 3.1], "y": [4.0, 4.2]})
    session.record("puncta", tables={"localizations": locs})
    session.record("ensembles", tables={"ensembles": pd.DataFrame({"ensemble": [0]})})
    session.save()
    gaps = [g for g in metadata_gaps(meta, session) if "not written to NWB" in g]
    assert len(gaps) == 2
    assert gaps[0].startswith("the session's ensembles step (coactivity, ensembles")
    assert "puncta step (localisations, puncta tracks and the calcium calls" in gaps[1]
    assert (
        main(["export-nwb", str(session.path), "-o", str(tmp_path / "p.nwb"), "--no-prompt"]) == 0
    )
    err = capsys.readouterr().err
    assert "catrack export-nwb: warning: the session's puncta step (" in err
    assert "is not written to NWB: `catrack export SESSION -o DIR`" in err


def test_catrack_export_says_what_the_nwb_file_lacks_as_export_nwb_does(tmp_path, capsys):
    """`catrack export` with the NWB item (a folder export, as the batch writes) says the NWB
    metadata gaps `catrack export-nwb` says (no subject: DANDI refuses the file; no start time);
    until h20 it wrote the file without a word. Without the NWB item it says none of them."""
    session, _ = worm_session(tmp_path / "w", video=False)
    assert main(["export", str(session.path), "-o", str(tmp_path / "a"), "--items", "tracks"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["export", str(session.path), "-o", str(tmp_path / "b"), "--items", "nwb"]) == 0
    err = capsys.readouterr().err
    assert "catrack export: warning: no subject in the metadata" in err
    assert "catrack export: warning: no session_start_time in the metadata" in err
    (tmp_path / "m.yaml").write_text(
        "session_start_time: 2024-05-01T10:30:00+02:00\nsubject: {subject_id: w, species: C}\n"
    )
    argv = ["export", str(session.path), "-o", str(tmp_path / "c"), "--items", "nwb"]
    assert main([*argv, "--metadata", str(tmp_path / "m.yaml")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_a_frame_folder_with_an_animated_png_links_each_files_first_frame(tmp_path):
    """h21b: NWB's `starting_frame` for a recording of several files was the file's index (one
    frame per file): a folder with an animated PNG (3 frames) put every later file's frames off.
    Now each file's first frame index, as the reader numbers the frames."""
    from pathlib import Path

    from PIL import Image

    from napari_catrack.io.nwb_ophys import _external_files
    from napari_catrack.io.tiff import open_tiff_sequence

    frames = [Image.fromarray(np.full((6, 8), v, np.uint8)) for v in range(5)]
    frames[0].save(tmp_path / "a1.png")
    frames[1].save(tmp_path / "a2.png", save_all=True, append_images=frames[2:4])  # 3 frames
    frames[4].save(tmp_path / "a3.png")
    files, starts = _external_files(str(tmp_path))
    assert [Path(f).name for f in files] == ["a1.png", "a2.png", "a3.png"]
    assert starts == [0, 1, 4]  # before: [0, 1, 2]
    movie = np.asarray(open_tiff_sequence(tmp_path).data)
    assert [int(movie[s].max()) for s in starts] == [0, 1, 4]  # each file's first frame
