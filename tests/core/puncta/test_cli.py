"""`catrack puncta` end to end, and its one-line errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.io.camera import write_camera
from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.synthetic.puncta import make_puncta_recording


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("puncta")
    rec = make_puncta_recording(shape=(48, 48), n_frames=25, seed=4)
    write_movie_tiff(tmp / "rec.tif", rec.puncta, rec.calcium)
    write_movie_tiff(tmp / "single.tif", rec.puncta)
    write_camera(rec.camera, tmp / "camera.json")
    return tmp, rec


def test_cli_writes_the_contract_files(files, capsys):
    tmp, _ = files
    out = tmp / "out"
    code = main(["puncta", str(tmp / "rec.tif"), "--puncta-channel", "0", "--calcium-channel",
                 "1", "--pixel-size-nm", "108", "--camera", str(tmp / "camera.json"),
                 "-o", str(out)])  # fmt: skip
    assert code == 0
    header = (out / "localizations.csv").read_text().splitlines()[0]
    assert header.startswith('"id","frame","x [nm]","y [nm]","sigma [nm]"')
    locs = pd.read_csv(out / "localizations.csv")
    assert locs.frame.min() >= 1 and locs.frame.max() <= 25
    assert locs["x [nm]"].between(0, 48 * 108).all()
    tracks = pd.read_csv(out / "tracks.csv")
    assert list(tracks.columns) == ["track_id", "frame", "x_nm", "y_nm"]
    calcium = pd.read_csv(out / "calcium.csv")
    assert list(calcium.columns) == ["track_id", "frame", "probability", "event", "time_s"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"]["pixel_size_nm"] == 108 and summary["camera"]["offset_adu"] == 100
    # which package and which files exactly (the recording and the camera file, hashed)
    from napari_catrack import __version__
    from napari_catrack.io.provenance import file_provenance

    assert summary["version"] == __version__
    assert summary["inputs"]["recording"]["sha256"] == file_provenance(tmp / "rec.tif")["sha256"]
    assert summary["inputs"]["camera"]["sha256"] == file_provenance(tmp / "camera.json")["sha256"]
    assert "model" not in summary["inputs"]
    said = capsys.readouterr()
    assert "tracks" in said.out
    # progress on stderr, so a long movie does not look frozen (it used to print nothing)
    assert "catrack puncta: 100% (done)" in said.err and "%" not in said.out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--camera", "missing.json"], "camera file not found"),
        (["--camera", "partial.json"], "lacks key(s) e_per_adu"),
        (["--calcium-channel", "0"], "must differ"),
        (["--puncta-channel", "5"], "--puncta-channel 5 does not exist: the data has 2 channel"),
        (["--layout", "single"], "--layout single opens one channel of"),
        (["--model", "missing.json"], "--model is for --method network"),
        (
            ["--min-track-length", "26"],
            "keeps no track: a track holds at most one localisation "
            "per frame and the movie has 25 frames",
        ),
    ],
)
def test_cli_errors(files, capsys, extra, message):
    tmp, _ = files
    (tmp / "partial.json").write_text(json.dumps({"offset_adu": 100, "em_gain": 1,
                                                  "quantum_efficiency": 0.9}))  # fmt: skip
    extra = [str(tmp / e) if e.endswith(".json") else e for e in extra]
    code = main(["puncta", str(tmp / "rec.tif"), "--pixel-size-nm", "108", *extra,
                 "-o", str(tmp / "err")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("catrack: error:") and message in err[-1]


def test_cli_link_distance_past_its_bound_says_why(files, capsys):
    tmp, _ = files
    with pytest.raises(SystemExit) as exc:  # argparse refuses it before any work
        main(["puncta", str(tmp / "rec.tif"), "--link-distance-nm", "9000", "-o",
              str(tmp / "err3")])  # fmt: skip
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--link-distance-nm must be >= 1 and <= 5000.0, got '9000': puncta lie about" in err


def test_cli_single_channel_is_refused(files, capsys):
    tmp, _ = files
    code = main(["puncta", str(tmp / "single.tif"), "--pixel-size-nm", "108", "-o",
                 str(tmp / "err2")])  # fmt: skip
    assert code == 2
    assert "needs two (puncta + calcium)" in capsys.readouterr().err


def test_cli_warns_when_the_offset_is_already_subtracted(files, tmp_path, capsys):
    """ADU - offset analysed with the camera's offset: photons ~0.5x and uncertainties ~4x,
    so the step says the offset looks subtracted (and a correct movie gets no such warning)."""
    import numpy as np

    tmp, rec = files
    subtracted = tmp_path / "subtracted.tif"
    write_movie_tiff(subtracted, rec.puncta.astype(np.float32) - rec.camera.offset_adu,
                     rec.calcium.astype(np.float32) - rec.camera.offset_adu)  # fmt: skip
    for movie, warned in ((tmp / "rec.tif", False), (subtracted, True)):
        code = main(["puncta", str(movie), "--pixel-size-nm", "108", "--camera",
                     str(tmp / "camera.json"), "-o", str(tmp_path / movie.stem)])  # fmt: skip
        assert code == 0
        err = capsys.readouterr().err
        assert ("puncta channel pixels are below the camera offset" in err) is warned, err
        if warned:
            assert "already subtracted? Then give a camera file with offset_adu 0" in err


def _formats_per_column(path) -> dict[str, set[str]]:
    """Read a CSV's text: per column, the number formats its cells are written in ('int',
    'fixed.N' with N decimals, 'sci'); empty cells left out."""
    import csv
    import re

    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    seen: dict[str, set[str]] = {c: set() for c in rows[0]}
    for row in rows[1:]:
        for col, cell in zip(rows[0], row, strict=True):
            if not cell:
                continue
            if re.fullmatch(r"-?\d+", cell):
                seen[col].add("int")
            elif m := re.fullmatch(r"-?\d+\.(\d+)", cell):
                seen[col].add(f"fixed.{len(m[1])}")
            else:
                seen[col].add("sci" if re.fullmatch(r"-?[\d.]+[eE][-+]?\d+", cell) else cell)
    return seen


def test_every_puncta_csv_writes_one_number_format_per_column(files, tmp_path, capsys):
    """x_nm, y_nm, ThunderSTORM's x [nm], ... each in one fixed format: no column mixes
    5.1e-05 with 3262.256, or 4.852047445422571 with 3701.37 (as the CLI's localizations.csv
    and an export's puncta tables did), in the CLI's files and in an export of its session."""
    tmp, _ = files
    out, session = tmp_path / "out", tmp_path / "s.catrack.h5"
    # --fps: the times written (h21), and the rate the whole export's NWB file needs (h22)
    assert main(["puncta", str(tmp / "rec.tif"), "--pixel-size-nm", "108", "--camera",
                 str(tmp / "camera.json"), "-o", str(out), "--session", str(session),
                 "--fps", "20"]) == 0  # fmt: skip
    assert main(["export", str(session), "-o", str(tmp_path / "exp")]) == 0
    written = sorted(out.glob("*.csv")) + sorted((tmp_path / "exp" / "puncta").glob("*.csv"))
    assert len(written) == 8  # the export's calcium.csv too (h22)
    for path in written:
        for col, kinds in _formats_per_column(path).items():
            assert len(kinds) <= 1, f"{path.name} column {col!r} mixes {sorted(kinds)}"
            assert "sci" not in kinds, f"{path.name} column {col!r}"
    cols = _formats_per_column(out / "tracks.csv")
    assert cols["x_nm"] == cols["y_nm"] == {"fixed.4"} and cols["frame"] == {"int"}
    cols = _formats_per_column(out / "localizations.csv")
    assert cols["x [nm]"] == {"fixed.4"} and cols["id"] == cols["frame"] == {"fixed.1"}  # 1.0
    summary = _formats_per_column(tmp_path / "exp" / "puncta" / "track_summary.csv")
    assert summary["x_nm"] == summary["y_nm"] == {"fixed.4"}


def test_a_tiny_coordinate_is_not_written_in_scientific_notation(tmp_path):
    from napari_catrack.core.puncta.tables import write_puncta_table

    table = pd.DataFrame({"track_id": [0, 1, 2], "x_nm": [5.1e-05, 3262.2557095, 12.0],
                          "y_nm": [1e7, 0.5, float("nan")], "events": [0, 3, 1]})  # fmt: skip
    write_puncta_table(table, tmp_path / "t.csv")
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines == ["track_id,x_nm,y_nm,events", "0,0.0001,10000000.0000,0",
                     "1,3262.2557,0.5000,3", "2,12.0000,,1"]  # fmt: skip
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["x_nm"].tolist() == [0.0001, 3262.2557, 12.0] and back["y_nm"].isna().iloc[2]


def test_an_exported_localizations_table_has_the_commands_names_and_units(files, tmp_path):
    """An export's puncta/localizations.csv named the coordinates x, y (pixels, 0-based frames)
    where `catrack puncta` writes ThunderSTORM's "x [nm]", "y [nm]" (1-based frames): now the
    export writes the command's columns, the same numbers, then the session's own extras."""
    from napari_catrack.io.thunderstorm import read_thunderstorm

    tmp, _ = files
    out, session = tmp_path / "out", tmp_path / "s.catrack.h5"
    assert main(["puncta", str(tmp / "rec.tif"), "--pixel-size-nm", "108", "--camera",
                 str(tmp / "camera.json"), "-o", str(out), "--session", str(session)]) == 0  # fmt: skip
    # the tables only: the NWB file of a session without a frame rate is not written (h22)
    tables = "puncta:localizations,puncta:track_summary,puncta:events,puncta:calcium"
    assert main(["export", str(session), "-o", str(tmp_path / "exp"), "--items", tables]) == 0
    command = (out / "localizations.csv").read_text().splitlines()
    exported = (tmp_path / "exp" / "puncta" / "localizations.csv").read_text().splitlines()
    n = len(command[0].split(","))
    assert exported[0].split(",")[:n] == command[0].split(",")  # "x [nm]", quoted, same order
    assert '"x"' not in exported[0] and "track_id" in exported[0]
    assert [row.split(",")[:n] for row in exported[1:]] == [row.split(",") for row in command[1:]]
    back = read_thunderstorm(tmp_path / "exp" / "puncta" / "localizations.csv")  # readable as one
    assert back["frame"].min() >= 1 and len(back) == len(command) - 1
    main(["export", str(session), "-o", str(tmp_path / "x"), "--table-format", "xlsx"])
    xlsx = pd.read_excel(tmp_path / "x" / "puncta" / "localizations.xlsx")
    assert list(xlsx.columns[:n]) == [c.strip('"') for c in command[0].split(",")]


def test_a_puncta_session_goes_to_nwb_with_export_nwb_fps(files, tmp_path, capsys):
    """A puncta-only session states no frame rate: `export-nwb` said "set it (... or --fps)"
    and had no --fps. Now it names `catrack export-nwb --fps`, which exists and times the
    imaging; a --fps that contradicts a session's own rate is used, with a warning."""
    pytest.importorskip("pynwb")
    from pynwb import NWBHDF5IO

    tmp, _ = files
    session = tmp_path / "p.catrack.h5"
    assert main(["puncta", str(tmp / "rec.tif"), "--pixel-size-nm", "108", "--camera",
                 str(tmp / "camera.json"), "-o", str(tmp_path / "out"),
                 "--session", str(session)]) == 0  # fmt: skip
    capsys.readouterr()
    nwb = tmp_path / "p.nwb"
    assert main(["export-nwb", str(session), "-o", str(nwb), "--no-prompt"]) == 2
    err = capsys.readouterr().err
    assert "the session has no frame rate" in err and "`catrack export-nwb --fps`" in err
    assert not nwb.exists()
    assert main(["export-nwb", str(session), "-o", str(nwb), "--no-prompt", "--fps", "20"]) == 0
    with NWBHDF5IO(str(nwb), "r") as io:
        green = io.read().acquisition["ImagingGreen"]
        assert green.rate == 20.0 and green.starting_time == 0.0
    from napari_catrack.session import Session

    s = Session.load(session)
    s.record("settings", attrs={"fps": 5.0})  # as a widget's frame rate box sets it
    s.save()
    s.close()
    capsys.readouterr()
    assert main(["export-nwb", str(session), "-o", str(nwb), "--no-prompt", "--fps", "20"]) == 0
    assert "--fps 20 differs from the session's frame rate 5 Hz; using --fps" in (
        capsys.readouterr().err
    )
    with NWBHDF5IO(str(nwb), "r") as io:
        assert io.read().acquisition["ImagingGreen"].rate == 20.0
