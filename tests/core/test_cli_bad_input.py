"""Bad input from the command line: one clear `catrack: error:` line, exit 2, nothing written.

Each test is a case that `scripts/bad_input_sweep.py` found giving a traceback, an obscure
message or a changed file; the sweep itself runs every command against the whole battery."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile

from napari_catrack.cli import EXIT_USER_ERROR, main


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: a bad option value
        code = exc.code
    return code, capsys.readouterr().err


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _worm_movie(t: int = 6) -> np.ndarray:
    """A bright bar on a dim noisy background: a worm the classical segmenter finds."""
    rng = np.random.default_rng(0)
    movie = (20 + 3 * rng.standard_normal((t, 48, 48))).astype(np.float32)
    movie[:, 20:28, 6:42] += 200
    return movie


def test_segment_refuses_nan_pixels_in_one_line(tmp_path, capsys):
    movie = _worm_movie()
    movie[0, :4, :4] = np.nan  # a few NaN pixels on the prompt frame: was an IndexError
    tifffile.imwrite(tmp_path / "nan.tif", movie, metadata={"axes": "TYX"})
    out = tmp_path / "masks.tif"
    argv = ["segment", tmp_path / "nan.tif", "--prompt", "24,20", "--method", "classical"]
    code, err = _run(capsys, [*argv, "-o", out])
    assert code == EXIT_USER_ERROR
    assert "frame 0 contains 16 NaN/infinite pixels" in _one_error_line(err)
    assert not out.exists()


def test_segment_all_nan_prompt_frame_is_blank_and_nan_frames_are_gaps(tmp_path, capsys):
    movie = _worm_movie()
    movie[:] = np.nan
    tifffile.imwrite(tmp_path / "allnan.tif", movie, metadata={"axes": "TYX"})
    argv = ["segment", tmp_path / "allnan.tif", "--prompt", "24,20", "--method", "classical"]
    code, err = _run(capsys, [*argv, "-o", tmp_path / "m.tif"])
    assert code == EXIT_USER_ERROR
    assert "frame 0 is blank" in _one_error_line(err)
    movie = _worm_movie()
    movie[4:] = np.nan  # frames lost at the end: no mask there, the others segmented
    tifffile.imwrite(tmp_path / "gap.tif", movie, metadata={"axes": "TYX"})
    argv = ["segment", tmp_path / "gap.tif", "--prompt", "24,20", "--method", "classical"]
    code, err = _run(capsys, [*argv, "-o", tmp_path / "m.tif"])
    assert code == 0, err
    masks = tifffile.imread(tmp_path / "m.tif")
    assert masks[:4].any(axis=(1, 2)).all() and not masks[4:].any()


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity"])
def test_step_parameters_refuse_infinity(tmp_path, capsys, value):
    """`--pnr-sigma-px inf` passed the >= 0 bound and ended in int(inf): a traceback."""
    movie = _worm_movie(10)
    tifffile.imwrite(tmp_path / "m.tif", movie, metadata={"axes": "TYX"})
    code, err = _run(
        capsys, ["summary", tmp_path / "m.tif", f"--pnr-sigma-px={value}", "-o", tmp_path / "s"]
    )
    assert code == EXIT_USER_ERROR
    assert "--pnr-sigma-px must be a finite number" in _one_error_line(err)
    assert not (tmp_path / "s").exists()


def test_step_parameters_refuse_infinity_from_a_manifest_or_session():
    from napari_catrack.core.summary import SummaryParams
    from napari_catrack.errors import InputError

    with pytest.raises(InputError, match="must be a finite number"):
        SummaryParams(pnr_sigma_px=float("inf"))
    with pytest.raises(InputError, match="must be a finite number"):
        SummaryParams.from_dict({"pnr_sigma_px": "inf"})


# --- tables: a word in a number column, a table with a header and no rows --------------------
def _tables(tmp_path):
    stage = tmp_path / "stage.csv"
    stage.write_text("frame,time_s,stage_y_um,stage_x_um\n" + "".join(
        f"{f},{f / 10},0,{5 * f}\n" for f in range(8)))  # fmt: skip
    events = tmp_path / "events.csv"
    events.write_text("time_s,event\n1.0,reversal\n")
    words = tmp_path / "words.csv"
    words.write_text("neuron_id,frame,point,y,x,time_s,dff\n1,zero,one,up,left,soon,big\n")
    header = tmp_path / "header.csv"
    header.write_text("neuron_id,frame,point,y,x,time_s,dff\n")
    return stage, events, words, header


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("velocity --centerline words", r"centerline .*words\.csv: column frame must hold whole"),
        ("velocity --tracks words", r"tracks .*words\.csv: column frame must hold whole numbers"),
        ("velocity --tracks header", r"tracks .*header\.csv has no rows"),
        ("events words", r"traces .*words\.csv: column frame must hold whole numbers >= 0"),
        ("events header", r"traces .*header\.csv has no rows"),
        ("traces words", r"tracks .*words\.csv: column frame must hold whole numbers >= 0"),
    ],
)
def test_tables_with_words_or_no_rows_are_one_line(tmp_path, capsys, case, expected):
    """Were tracebacks (int('zero'), str.mean, NaN to int) or, for traces, the misleading
    "the tracks name no frame of this recording"."""
    stage, events, words, header = _tables(tmp_path)
    table = {"words": words, "header": header}[case.split()[-1]]
    out = tmp_path / "out"
    if case.startswith("velocity"):
        option = case.split()[1]
        argv = ["velocity", "--stage", stage, option, table, "--pixel-size", "1", "--fps", "10"]
        argv += ["-o", out / "v.csv"]
    elif case.startswith("events"):
        argv = ["events", table, "--events", events, "--fps", "10", "-o", out]
    else:
        movie = np.zeros((4, 2, 32, 32), np.uint16)
        tifffile.imwrite(tmp_path / "rec.tif", movie, imagej=True, metadata={"axes": "TCYX"})
        argv = ["traces", tmp_path / "rec.tif", "--tracks", table, "--no-align", "-o", out]
    code, err = _run(capsys, argv)
    assert code == EXIT_USER_ERROR
    assert re.search(expected, _one_error_line(err)), err
    assert not out.exists()


def test_read_table_numbers_come_back_as_numbers(tmp_path):
    from napari_catrack.errors import InputError
    from napari_catrack.io.tables import read_table

    path = tmp_path / "t.csv"
    path.write_text("frame,y\n0,1.5\n1,\n2,3\n")
    table = read_table(path, ("frame", "y"), numeric=("y",), frames=("frame",))
    assert table["frame"].tolist() == [0, 1, 2] and table["frame"].dtype.kind == "i"
    assert np.isnan(table["y"][1]) and table["y"][2] == 3.0  # an empty cell is allowed: NaN
    for bad, line in (("-1", 2), ("1.5", 2), ("", 2)):
        path.write_text(f"frame,y\n{bad},1\n")
        with pytest.raises(InputError, match=f"column frame must hold whole numbers.*line {line}"):
            read_table(path, frames=("frame",))


@pytest.mark.parametrize("command", ["centerline --masks", "velocity --stage", "batch"])
def test_a_folder_given_for_a_file_is_called_a_folder(tmp_path, capsys, command):
    """These said "not found" of a folder that is there."""
    folder = tmp_path / "given.csv"
    folder.mkdir()
    (tmp_path / "c.csv").write_text("frame,point,y,x\n0,0,1,1\n0,1,1,2\n1,0,1,1\n1,1,1,2\n")
    argv = {
        "centerline --masks": ["centerline", "--masks", folder, "-o", tmp_path / "o.csv"],
        "velocity --stage": ["velocity", "--stage", folder, "--centerline", tmp_path / "c.csv",
                             "--pixel-size", "1", "--fps", "10", "-o", tmp_path / "o.csv"],
        "batch": ["batch", folder, "-o", tmp_path / "o"],
    }[command]  # fmt: skip
    code, err = _run(capsys, argv)
    assert code == EXIT_USER_ERROR
    assert f"is a folder, not a file: {folder}" in _one_error_line(err)


def test_train_detector_names_an_empty_frame_cell_plainly(tmp_path, capsys):
    traces = tmp_path / "traces.csv"
    traces.write_text("neuron_id,frame,dff\n" + "".join(f"1,{f},0.1\n" for f in range(50)))
    transients = tmp_path / "transients.csv"
    transients.write_text("neuron_id,start_frame,peak_frame,end_frame\n1,,12,20\n")
    argv = ["train-detector", traces, transients, "--fps", "10", "-o", tmp_path / "d.json"]
    code, err = _run(capsys, argv)
    assert code == EXIT_USER_ERROR
    line = _one_error_line(err)
    assert "start_frame must be frame numbers; row 1 has an empty cell" in line, line


def test_a_new_session_file_named_like_a_tiff_is_refused(tmp_path, capsys):
    """`--session missing.tif` wrote an HDF5 session file named missing.tif."""
    movie = np.zeros((4, 2, 32, 32), np.uint16)
    tifffile.imwrite(tmp_path / "rec.tif", movie, imagej=True, metadata={"axes": "TCYX"})
    out = tmp_path / "c.csv"
    argv = ["detect", tmp_path / "rec.tif", "--no-align", "-o", out]
    code, err = _run(capsys, [*argv, "--session", tmp_path / "typo.tif"])
    assert code == EXIT_USER_ERROR
    assert "a new session file is named *.catrack.h5, not *.tif" in _one_error_line(err)
    assert not (tmp_path / "typo.tif").exists() and not out.exists()
    code, err = _run(capsys, [*argv, "--session", tmp_path / "new.h5"])  # any HDF5 name: fine
    assert code == 0, err
    assert (tmp_path / "new.h5").is_file()


def test_a_binary_file_given_as_a_table_is_called_binary(tmp_path, capsys):
    """Was "cannot read traces X: 'utf-8' codec can't decode byte 0x89 in position 0"."""
    binary = tmp_path / "traces.csv"
    binary.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)))
    events = tmp_path / "events.csv"
    events.write_text("time_s,event\n1.0,reversal\n")
    argv = ["events", binary, "--events", events, "--fps", "10", "-o", tmp_path / "ev"]
    code, err = _run(capsys, argv)
    assert code == EXIT_USER_ERROR
    assert "is not a text table (CSV/TSV) nor an Excel file" in _one_error_line(err)


@pytest.mark.parametrize(
    "argv",
    [
        ["traces", "rec.tif", "--tracks", "t.csv", "-o", "o.csv", "--fps"],  # inf: time_s all 0
        ["velocity", "--stage", "s.csv", "--tracks", "t.csv", "-o", "o.csv", "--fps"],
        ["velocity", "--stage", "s.csv", "--tracks", "t.csv", "-o", "o.csv", "--stage-scale"],
        ["velocity", "--stage", "s.csv", "--tracks", "t.csv", "-o", "o.csv",
         "--stage-time-scale"],
        ["centerline", "--masks", "m.tif", "-o", "o.csv", "--pixel-size"],
        ["transients", "t.csv", "-o", "o.csv", "--fps"],
        ["ensembles", "t.csv", "-o", "out", "--fps"],
    ],
    ids=["traces --fps", "velocity --fps", "--stage-scale", "--stage-time-scale",
         "centerline --pixel-size", "transients --fps", "ensembles --fps"],
)  # fmt: skip
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_rates_and_scales_must_be_finite_and_positive(tmp_path, capsys, argv, value):
    """velocity --fps nan was a traceback, --fps 0 and --stage-scale 0 were accepted (every time
    or stage position 0), traces --fps inf too; centerline took any --pixel-size. transients and
    ensembles --fps 0 read the table first, then warned that 0 "differs from the 12 Hz read from
    the table's time_s column; using --fps" and failed with another wording (h22 walk)."""
    code, err = _run(capsys, [*argv[:-1], argv[-1] + "=" + value])
    assert code == EXIT_USER_ERROR
    assert "warning" not in err, err
    assert f"{argv[-1]}: expected a finite number > 0, got '{value}'" in _one_error_line(err)


def test_a_folder_given_as_a_session_is_called_a_folder(tmp_path, capsys):
    folder = tmp_path / "s.catrack.h5"
    folder.mkdir()
    for argv in (["export", folder, "-o", tmp_path / "e"], ["export-nwb", folder, "-o",
                 tmp_path / "x.nwb", "--no-prompt"]):  # fmt: skip
        code, err = _run(capsys, argv)
        assert code == EXIT_USER_ERROR
        assert f"session file is a folder, not a file: {folder}" in _one_error_line(err)


def test_batch_retries_may_not_be_negative(tmp_path, capsys):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("recordings: []\n")
    code, err = _run(capsys, ["batch", manifest, "-o", tmp_path / "b", "--retries", "-1"])
    assert code == EXIT_USER_ERROR
    assert "--retries: expected an integer >= 0, got '-1'" in _one_error_line(err)


def test_a_three_channel_movie_for_a_one_channel_step_asks_for_channel(tmp_path, capsys):
    """register, summary and sources take --channel; the reader's line asked for "the green and
    red channel indices" or "layout channel-axis", options these commands do not have."""
    movie = np.zeros((10, 32, 32, 3), np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", movie, photometric="rgb")
    code, err = _run(capsys, ["summary", tmp_path / "rgb.tif", "-o", tmp_path / "s"])
    assert code == EXIT_USER_ERROR
    line = _one_error_line(err)
    assert "rgb.tif: 3 channels found (numbered 0-2)" in line
    assert line.endswith("choose it with --channel N") and "green" not in line
    code, err = _run(capsys, ["summary", tmp_path / "rgb.tif", "--channel", "1", "-o",
                              tmp_path / "s"])  # fmt: skip
    assert code == 0, err


def test_channel_one_of_a_two_channel_movie_is_used(tmp_path, capsys):
    """`--channel 1` met the default red channel 1: "green and red channel indices (1, 1) name
    the same channel", so the second channel of a file could not be chosen at all."""
    movie = np.zeros((10, 2, 16, 16), np.uint16)
    movie[:, 1] = 7
    tifffile.imwrite(tmp_path / "two.tif", movie, imagej=True, metadata={"axes": "TCYX"})
    code, err = _run(capsys, ["summary", tmp_path / "two.tif", "--channel", "1", "-o",
                              tmp_path / "s"])  # fmt: skip
    assert code == 0, err
    assert (tifffile.imread(tmp_path / "s" / "mean.tif") == 7).all()


def test_track_refuses_a_movie_of_nan_and_says_dropped_frames(tmp_path, capsys):
    """An all-NaN movie gave tracks that were the seeds, unmoved, at confidence 0, silently."""
    movie = np.full((6, 2, 32, 32), np.nan, np.float32)
    tifffile.imwrite(tmp_path / "nan.tif", movie, imagej=True, metadata={"axes": "TCYX"})
    (tmp_path / "seeds.csv").write_text("neuron_id,y,x\n1,10,10\n")
    out = tmp_path / "t.csv"
    argv = ["track", tmp_path / "nan.tif", "--seeds", tmp_path / "seeds.csv", "--no-align"]
    code, err = _run(capsys, [*argv, "-o", out])
    assert code == EXIT_USER_ERROR
    assert "every frame of the tracked channel is mostly NaN" in _one_error_line(err)
    assert not out.exists()
    rng = np.random.default_rng(0)
    movie = (100 + rng.standard_normal((6, 2, 32, 32))).astype(np.float32)
    movie[:, :, 8:13, 8:13] += 300
    movie[3] = np.nan
    tifffile.imwrite(tmp_path / "gap.tif", movie, imagej=True, metadata={"axes": "TCYX"})
    argv[1] = tmp_path / "gap.tif"
    code, err = _run(capsys, [*argv, "-o", out])
    assert code == 0, err
    assert "warning: 1 of 6 frames are mostly NaN/infinite pixels (first: frame 3)" in err


def test_detect_on_a_nan_frame_says_so(tmp_path, capsys):
    """Was "0 candidates", unexplained."""
    movie = np.full((3, 2, 32, 32), np.nan, np.float32)
    tifffile.imwrite(tmp_path / "nan.tif", movie, imagej=True, metadata={"axes": "TCYX"})
    out = tmp_path / "c.csv"
    code, err = _run(capsys, ["detect", tmp_path / "nan.tif", "--no-align", "-o", out])
    assert code == EXIT_USER_ERROR
    assert "the frame is NaN/infinite everywhere" in _one_error_line(err)
    assert not out.exists()


def test_a_tiff_given_as_a_session_is_not_called_damaged(tmp_path, capsys):
    """export / export-nwb / --session given a TIFF said "is damaged ... restore the file from a
    copy or backup", of the user's movie; a damaged *.catrack.h5 keeps that line."""
    movie = np.zeros((4, 2, 32, 32), np.uint16)
    tifffile.imwrite(tmp_path / "rec.tif", movie, imagej=True, metadata={"axes": "TCYX"})
    tifffile.imwrite(tmp_path / "other.tif", movie, imagej=True, metadata={"axes": "TCYX"})
    before = (tmp_path / "other.tif").read_bytes()
    for argv in (["export", tmp_path / "other.tif", "-o", tmp_path / "e"],
                 ["detect", tmp_path / "rec.tif", "--no-align", "-o", tmp_path / "c.csv",
                  "--session", tmp_path / "other.tif"]):  # fmt: skip
        code, err = _run(capsys, argv)
        assert code == EXIT_USER_ERROR
        line = _one_error_line(err)
        assert "other.tif is not a napari-catrack session file (*.catrack.h5): not an HDF5" in line
        assert "damaged" not in line and "backup" not in line
    assert (tmp_path / "other.tif").read_bytes() == before
    (tmp_path / "s.catrack.h5").write_bytes(b"not hdf5 at all" * 100)
    code, err = _run(capsys, ["export", tmp_path / "s.catrack.h5", "-o", tmp_path / "e"])
    assert "s.catrack.h5 is damaged" in _one_error_line(err)


def test_an_option_argparse_refuses_is_one_catrack_error_line(tmp_path, capsys):
    """A bad option value argparse refuses said `catrack track: error: argument --size-ratio:
    --size-ratio must ...` after 15 lines of usage, while the same option's other refusal (the
    parameter class's check) said `catrack: error: --size-ratio must ...` in one line (h18 walk):
    both are now one `catrack: error:` line naming the command's --help, exit 2."""
    movie = tmp_path / "m.tif"
    tifffile.imwrite(movie, _worm_movie(4), metadata={"axes": "TYX"})
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("neuron_id,y,x\n0,24,20\n", encoding="utf-8")
    base = ["track", movie, "--seeds", seeds, "-o", tmp_path / "t.csv"]
    cases = {
        "-1": "catrack: error: --size-ratio must be >= 0.0 and <= 100.0, got '-1' "
        "(see catrack track --help)",
        "abc": "catrack: error: --size-ratio must be a number, got 'abc' (see catrack track --help)",
        "0.5": "catrack: error: --size-ratio must be 0 (off) or at least 1, got 0.5",
    }
    for value, line in cases.items():
        code, err = _run(capsys, [*base, "--size-ratio", value])
        assert code == EXIT_USER_ERROR
        assert err.splitlines() == [line], err
    for argv, line in (
        ([*base, "--lost-after", "1.5"], "--lost-after must be a whole number, got '1.5'"),
        ([*base, "--bogus"], "unrecognized arguments: --bogus (see catrack track --help)"),
        (["track", movie], "the following arguments are required: --seeds, -o/--output"),
        (["track", movie, "--layout", "x"], "--layout: invalid choice: 'x' (choose from"),
        (["trak"], "unknown command 'trak' (choose from 'align'"),
    ):
        code, err = _run(capsys, argv)
        assert code == EXIT_USER_ERROR
        assert len(err.splitlines()) == 1 and err.startswith(f"catrack: error: {line}"), err
    assert not (tmp_path / "t.csv").exists()


def _typed_options():
    """(command, option, type) for every option of every command whose argparse type is a bare
    Python type (float, int, ...), not one of `commands._common`'s checked ones."""
    import argparse

    from napari_catrack.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if isinstance(action.type, type) and action.type is not str and action.option_strings:
                yield name, action.option_strings[-1], action.type


def test_a_plain_typed_option_names_what_it_takes_not_a_python_type(capsys):
    """h19: `catrack transients --fps abc` said `--fps: invalid float value: 'abc'` (argparse's
    words for a `type=float` option); every such option of every command now says it in words,
    one line: `--fps must be a number, got 'abc'`, `--channel must be a whole number, ...`."""
    options = list(_typed_options())
    assert {("ensembles", "--threshold"), ("train-puncta", "--threads")} <= {
        (c, o) for c, o, _ in options
    }
    words = {float: "a number", int: "a whole number"}
    for command, option, kind in options:
        code, err = _run(capsys, [command, option, "abc"])
        line = _one_error_line(err)
        assert code == EXIT_USER_ERROR, (command, option)
        assert "invalid" not in line and kind.__name__ not in line.split("(see")[0], line
        if kind in words:
            assert f"catrack: error: {option} must be {words[kind]}, got 'abc'" in line, line


def test_traces_refuses_tracks_of_another_recording_in_one_line(tmp_path, capsys):
    """`catrack traces` over tracks of a longer recording (30 of 32 rows past this 4-frame one's
    end) warned "ignoring 28 track rows ..." and wrote a tiny table before h22."""
    movie = np.zeros((4, 2, 32, 32), np.uint16)
    tifffile.imwrite(tmp_path / "rec.tif", movie, imagej=True, metadata={"axes": "TCYX"})
    rows = ["neuron_id,frame,y,x", *(f"{n},{f},10,10" for n in (1, 2) for f in range(16))]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    argv = ["traces", tmp_path / "rec.tif", "--tracks", tmp_path / "t.csv", "--no-align", "-o", out]  # fmt: skip
    code, err = _run(capsys, argv)
    assert code == EXIT_USER_ERROR
    assert _one_error_line(err).endswith(
        "the tracks span frames 0..15 but the recording has 4 frames (0..3): only 8 of 32 track "
        "rows fall inside it (less than 50%): tracks of another recording?"
    ), err
    assert not out.exists()
