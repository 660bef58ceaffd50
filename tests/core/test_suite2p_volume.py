"""A multi-plane suite2p output as a two-photon lab has it: planes timed within the volume, the
same ids whether a plane is imported alone or with the others, red-channel verdicts
(redcell.npy), flyback planes and a mesoscope's ScanImage ROIs said, not guessed.

The folders are built in tmp_path from the real suite2p 0.14.6 output of tests/data (plane0
copied to every plane, with ops `nplanes` set as a multi-plane run writes it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from napari_catrack.cli import main
from napari_catrack.errors import InputError
from napari_catrack.io.sources import read_sources
from napari_catrack.io.suite2p import read_suite2p
from tests.core.test_suite2p_planes import add_roi_to_plane0

REAL = Path(__file__).parents[1] / "data" / "suite2p" / "old" / "plane0"
FS = 30.0  # the real output's fs (per plane: the volume rate)
K = 10  # ROIs in the real plane0


def real_planes(root: Path, n: int = 3, **ops) -> Path:
    """root/suite2p/plane0..plane{n-1}, each a copy of the real 0.14.6 plane0 (plane p's F and
    Fneu scaled by 1 + p / 10 so planes differ), ops updated with `nplanes` = n and `ops`."""
    top = root / "suite2p"
    for p in range(n):
        folder = top / f"plane{p}"
        shutil.copytree(REAL, folder)
        for name in ("F.npy", "Fneu.npy"):
            np.save(folder / name, np.load(folder / name) * np.float32(1 + p / 10))
        opts = np.load(folder / "ops.npy", allow_pickle=True).item()
        np.save(folder / "ops.npy", {**opts, "nplanes": n, **ops})
    return root


def _times(traces, nid) -> np.ndarray:
    return traces[traces["neuron_id"] == nid].sort_values("frame")["time_s"].to_numpy()


def test_each_planes_samples_are_timed_within_the_volume(tmp_path, capsys):
    """Plane p of an n-plane volume is imaged p / (n x fs) after plane 0: every cell's time_s
    was frame / fs whatever its plane (a plane-2 cell's samples 22 ms early at 30 Hz, 3 planes)."""
    real_planes(tmp_path / "s2p")
    out = tmp_path / "cells"
    assert main(["import", "suite2p", str(tmp_path / "s2p"), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "p / (3 planes x 30 Hz)" in err
    # the option named as the command's (the Sources widget shows this line and has no control)
    assert "catrack import suite2p --no-plane-offsets times every plane at frame / fs" in err
    got = read_sources(out)
    comps = got.components
    frames = np.arange(300)
    for p in range(3):
        nid = int(comps.loc[comps["plane"] == p, "neuron_id"].iloc[0])
        np.testing.assert_allclose(_times(got.traces, nid), frames / FS + p / (3 * FS))
    np.testing.assert_allclose(comps["time_offset_s"], comps["plane"] / (3 * FS))
    # turned off: every plane on the volume's clock, and no offset column
    assert main(["import", "suite2p", str(tmp_path / "s2p"), "--no-plane-offsets", "-o", str(tmp_path / "off")]) == 0  # fmt: skip
    off = read_sources(tmp_path / "off")
    assert "time_offset_s" not in off.components
    np.testing.assert_allclose(_times(off.traces, 25), frames / FS)  # plane 2's cell
    assert "--no-plane-offsets" in capsys.readouterr().err
    # a plane alone keeps its offset (the same times as among all planes)
    one = read_suite2p(tmp_path / "s2p", plane=2)
    np.testing.assert_allclose(_times(one.traces_table(), 25), frames / FS + 2 / (3 * FS))


def test_flyback_planes_count_in_the_volume_but_are_not_imported(tmp_path, capsys):
    """suite2p's ignore_flyback planes (the piezo's way back) take their time in each volume
    but hold no cells: left out (said), counted in nplanes for the offsets, never in the ids."""
    root = real_planes(tmp_path / "s2p", n=4, ignore_flyback=[3])
    for name in ("stat.npy", "F.npy", "Fneu.npy", "spks.npy", "iscell.npy"):
        (root / "suite2p" / "plane3" / name).unlink()  # suite2p ran nothing there
    res = read_suite2p(root)
    assert res.components["plane"].unique().tolist() == [0, 1, 2]
    (line,) = [w for w in res.warnings if "flyback" in w]
    assert line == "flyback plane(s) 3 (ignore_flyback in plane0/ops.npy): not imported"
    assert not any("no stat.npy" in w for w in res.warnings)  # not "no ROI found there"
    np.testing.assert_allclose(res.components["time_offset_s"], res.components["plane"] / (4 * FS))  # fmt: skip
    # a flyback plane with stat.npy (an earlier run without ignore_flyback): still left out,
    # as suite2p's combined view leaves it out; asked for by number: refused in one line
    shutil.rmtree(root / "suite2p" / "plane3")
    shutil.copytree(root / "suite2p" / "plane0", root / "suite2p" / "plane3")
    res = read_suite2p(root)
    assert len(res.components) == 3 * K
    assert any("though plane3 has stat.npy" in w for w in res.warnings), res.warnings
    with pytest.raises(InputError, match="plane 3 is a flyback plane"):
        read_suite2p(root, plane=3)
    # suite2p 1.x keeps ignore_flyback in the top folder's db.npy
    np.save(root / "suite2p" / "db.npy", {"ignore_flyback": [0], "nplanes": 4})
    for p in range(4):
        opts = np.load(root / "suite2p" / f"plane{p}" / "ops.npy", allow_pickle=True).item()
        np.save(root / "suite2p" / f"plane{p}" / "ops.npy", {**opts, "ignore_flyback": []})
    res = read_suite2p(root)
    assert res.components["plane"].unique().tolist() == [1, 2, 3]
    assert res.components["neuron_id"].tolist() == list(range(3 * K))  # plane 0 not counted
    assert any(w.startswith("flyback plane(s) 0 (ignore_flyback in suite2p/db.npy)") for w in res.warnings)  # fmt: skip


def test_a_mesoscope_layout_is_said_and_not_timed_as_planes(tmp_path):
    """A ScanImage multi-ROI (mesoscope) run writes one folder per ROI and depth, with `lines`,
    `dy`, `dx` in ops: the folders are no planes of one volume in time order, so they get no
    p / (n x fs) offset, and one line says what was imported."""
    root = tmp_path / "meso"
    real_planes(root, n=2, nrois=2, lines=[0, 1, 2], dy=0, dx=0)
    for p, (dy, dx) in enumerate(((0, 0), (0, 70))):
        folder = root / "suite2p" / f"plane{p}"
        opts = np.load(folder / "ops.npy", allow_pickle=True).item()
        np.save(folder / "ops.npy", {**opts, "lines": np.arange(64) + 80 * p, "dy": dy, "dx": dx})
    res = read_suite2p(root)
    assert len(res.components) == 2 * K and "time_offset_s" not in res.components
    (line,) = [w for w in res.warnings if "mesoscope" in w]
    assert "2 ScanImage ROI(s) x 1 plane(s) in 2 plane folder(s)" in line
    assert "not stitched" in line and "no per-plane time offsets" in line
    times = res.traces_table()
    np.testing.assert_allclose(_times(times, K), np.arange(300) / FS)  # the second folder's


def test_offsets_are_not_guessed_when_the_plane_order_is_not_known(tmp_path):
    """Bruker's bidirectional stacks (0, 1, 2, 2, 1, 0) and an nplanes below the folders' count
    leave the planes on the volume's clock, with a line saying why."""
    real_planes(tmp_path / "bi", bruker_bidirectional=True)
    res = read_suite2p(tmp_path / "bi")
    assert "time_offset_s" not in res.components
    assert any("bruker_bidirectional" in w for w in res.warnings)
    real_planes(tmp_path / "few", nplanes=2)  # three folders, ops says two
    res = read_suite2p(tmp_path / "few")
    assert "time_offset_s" not in res.components
    assert any("nplanes 2 but there are plane folders up to plane2" in w for w in res.warnings)


def test_a_plane_alone_has_the_ids_it_has_among_all_planes(tmp_path):
    """`--plane N` numbered plane N's cells 0..K-1, the all-planes import K_0 + K_1 + ...: a
    verdict given by id on one landed on another cell in the other. The ids are now the same,
    `plane` / `plane_roi` are always there, and verdicts follow (plane, plane_roi)."""
    from napari_catrack.core.sources.session import read_verdicts, record_sources, set_verdict
    from napari_catrack.session import Session

    root = real_planes(tmp_path / "s2p")
    every = read_suite2p(root).components.set_index(["plane", "plane_roi"])["neuron_id"]
    for p in range(3):
        alone = read_suite2p(root, plane=p).components
        assert alone["plane"].eq(p).all() and alone["plane_roi"].tolist() == list(range(K))
        want = [every[(p, i)] for i in range(K)]
        assert alone["neuron_id"].tolist() == want  # plane 1: 10..19, not 0..9
        folder = read_suite2p(root / "suite2p" / f"plane{p}").components  # the folder given
        assert folder["neuron_id"].tolist() == want
    single = read_suite2p(REAL).components  # a single-plane output: plane 0, rows as ids
    assert single["plane"].eq(0).all() and single["plane_roi"].tolist() == single["neuron_id"].tolist()  # fmt: skip

    def mine(session) -> dict:
        comps = session["sources"].tables["components"]
        at = dict(zip(comps["neuron_id"].astype(str), zip(comps["plane"], comps["plane_roi"])))
        return {at[r.neuron_id]: r.status for r in read_verdicts(session).itertuples()
                if not r.reason.startswith("auto: ")}  # fmt: skip

    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    record_sources(session, read_suite2p(root, plane=1), origin="suite2p")
    set_verdict(session, 11, "rejected", "two cells")  # plane 1, row 1
    set_verdict(session, 12, "accepted", "looked at it")  # plane 1, row 2
    record_sources(session, read_suite2p(root), origin="suite2p")  # then every plane
    assert mine(session) == {(1, 1): "rejected", (1, 2): "accepted"}
    set_verdict(session, 3, "rejected", "a dendrite")  # plane 0, row 3
    record_sources(session, read_suite2p(root, plane=1), origin="suite2p")  # back to plane 1
    assert mine(session) == {(1, 1): "rejected", (1, 2): "accepted"}  # plane 0's is gone
    # a plane that gained a ROI before plane 1: plane 1's ids move, its verdicts follow
    add_roi_to_plane0(root)
    record_sources(session, read_suite2p(root, plane=1), origin="suite2p")
    assert session["sources"].tables["components"]["neuron_id"].tolist() == list(range(11, 21))
    assert mine(session) == {(1, 1): "rejected", (1, 2): "accepted"}


def test_red_cells_are_imported_from_redcell_npy(tmp_path, capsys):
    """redcell.npy ([is red, probability] per ROI, suite2p's second-channel detection) was not
    read: now columns red_cell / red_prob of components.csv and the session's sources."""
    from napari_catrack.session import Session

    root = real_planes(tmp_path / "s2p")
    rng = np.random.default_rng(0)
    red = {}
    for p in (0, 1):
        prob = rng.uniform(0, 1, K)
        red[p] = np.column_stack([prob > 0.65, prob])
        np.save(root / "suite2p" / f"plane{p}" / "redcell.npy", red[p])
    session = tmp_path / "s.catrack.h5"
    out = tmp_path / "cells"
    assert main(["import", "suite2p", str(root), "-o", str(out), "--session", str(session)]) == 0
    err = capsys.readouterr().err
    assert "import: warning: plane2 has no redcell.npy: red_cell and red_prob are empty" in err, err  # fmt: skip
    for comps in (read_sources(out).components, Session.load(session)["sources"].tables["components"]):  # fmt: skip
        for p in (0, 1):
            mine = comps[comps["plane"] == p]
            np.testing.assert_allclose(mine["red_prob"], red[p][:, 1])
            np.testing.assert_array_equal(mine["red_cell"].astype(float), red[p][:, 0])
        assert comps.loc[comps["plane"] == 2, ["red_cell", "red_prob"]].isna().all().all()
    np.save(root / "suite2p" / "plane2" / "redcell.npy", np.column_stack([np.ones(K), np.full(K, 0.9)]))  # fmt: skip
    full = read_suite2p(root).components
    assert full["red_cell"].dtype == bool and full["red_cell"].sum() == sum(int(red[p][:, 0].sum()) for p in (0, 1)) + K  # fmt: skip
    # without any redcell.npy: no column, no word about it
    plain = read_suite2p(REAL)
    assert not {"red_cell", "red_prob"} & set(plain.components.columns)
    assert not any("redcell" in line for line in plain.warnings + plain.notes)
    np.save(root / "suite2p" / "plane2" / "redcell.npy", np.ones((K - 1, 2)))  # another run's
    assert main(["import", "suite2p", str(root), "-o", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "redcell.npy is (9, 2); it should be (10, 2)" in err and len(err.strip().splitlines()) == 1, err  # fmt: skip


def test_nwb_series_of_each_plane_start_at_its_plane_time(tmp_path):
    """Each plane's RoiResponseSeries starts p / (n x fs) after plane 0's (and a transient's
    times are its plane's); with --no-plane-offsets every plane starts at 0."""
    pynwb = pytest.importorskip("pynwb")
    from napari_catrack.core.sources.session import sources_from_session
    from napari_catrack.core.transients import TransientParams, cell_table, detect_transients
    from napari_catrack.core.transients.records import record_transients
    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.session import Session

    from ._session_helpers import NWB_METADATA, inspect_problems

    root = real_planes(tmp_path / "s2p")
    for flag, late in (([], 1 / (3 * FS)), (["--no-plane-offsets"], 0.0)):
        path = tmp_path / f"s{len(flag)}.catrack.h5"
        assert main(["import", "suite2p", str(root), "-o", str(tmp_path / f"c{len(flag)}"), "--session", str(path), *flag]) == 0  # fmt: skip
        session = Session.load(path)
        res = sources_from_session(session)
        ids = [str(i) for i in res.components["neuron_id"]]
        transients = detect_transients(res.dff, FS, "ksigma", ids, TransientParams())
        record_transients(session, transients, cell_table(transients, ids, 300, FS), TransientParams(), fps=FS)  # fmt: skip
        out = write_nwb(session, tmp_path / f"s{len(flag)}.nwb", metadata=NWB_METADATA)
        assert inspect_problems(out) == []
        with pynwb.NWBHDF5IO(str(out), "r") as io:
            nwb = io.read()
            for container in ("Fluorescence", "DfOverF"):
                series = nwb.processing["ophys"][container].roi_response_series
                for p in range(3):
                    s = series[f"{'raw' if container == 'Fluorescence' else 'dff'}_plane{p}"]
                    assert s.rate == FS and s.starting_time == pytest.approx(p * late)
            table = nwb.intervals["transients"].to_dataframe()
            assert len(table) == len(transients) > 0
            for row in table.itertuples():
                frames = transients.loc[transients["neuron_id"].astype(str) == row.neuron_id, "peak_frame"]  # fmt: skip
                assert np.isclose(frames.to_numpy() / FS + row.plane * late, row.peak_time).any()


def test_a_plane_alone_needs_the_earlier_planes_counts(tmp_path, capsys):
    """Its ids run after the earlier planes' ROIs: an earlier plane that cannot be counted
    stops `--plane N` with one line (a traceback from numpy before this was caught)."""
    root = real_planes(tmp_path / "s2p")
    (root / "suite2p" / "plane0" / "iscell.npy").write_bytes(b"not numpy")
    assert main(["import", "suite2p", str(root), "--plane", "1", "-o", str(tmp_path / "p1")]) == 2
    err = capsys.readouterr().err
    assert "to count its ROIs" in err and len(err.strip().splitlines()) == 1, err
    for name in ("iscell.npy", "F.npy"):
        (root / "suite2p" / "plane0" / name).unlink()
    with pytest.raises(InputError, match="lacks iscell.npy and F.npy"):
        read_suite2p(root, plane=2)
