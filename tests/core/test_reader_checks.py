"""What the readers refuse or warn about, in one line each (core, no Qt): tables that are not
traces, typo'd frame numbers, truncated TIFFs, stacks without a time axis, damaged imports; and
the `.zarr` movie `catrack register` writes, which every command opens."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_catrack.cli import main
from napari_catrack.errors import InputError
from napari_catrack.io.frames import MovieWriter, open_frames
from napari_catrack.io.minian import read_minian
from napari_catrack.io.recording import open_recording
from napari_catrack.io.suite2p import read_suite2p
from napari_catrack.io.tables import long_to_matrix, read_traces
from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.synthetic import make_worm_recording
from tests.conftest import shared_data

DATA = Path(__file__).resolve().parents[1] / "data"


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _cut(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    raw = src.read_bytes()
    dst.write_bytes(raw[: int(len(raw) * fraction)])
    return dst


# --- traces tables ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, found",
    [
        ("frame,dy,dx\n0,0.1,0.2\n1,0.3,0.1\n", "frame, dy, dx"),  # register's shifts
        ("neuron_id,y,x,area\n1,5,5,30\n2,9,9,28\n", "neuron_id, y, x, area"),  # candidates
        ("roi,frame,dff\n1,0,0.1\n2,0,0.2\n", "roi, frame, dff"),
        ("cell,t,value\n1,0,0.1\n1,1,0.2\n", "cell, t, value"),
        ("neuron,frame,dff\n1,0,0.1\n1,1,0.2\n", "neuron, frame, dff"),
        ("neuron_id,time_s,dff\n1,0,0.1\n1,0.1,0.2\n", "neuron_id, time_s, dff"),
    ],
)
def test_tables_that_are_not_traces_name_the_columns(tmp_path, capsys, text, found):
    path = _csv(tmp_path / "t.csv", text)
    with pytest.raises(InputError, match=f"not a traces table.*neuron_id, frame, dff.*found {found}$"):  # fmt: skip
        read_traces(path)
    out = tmp_path / "o.csv"
    assert main(["transients", str(path), "--fps", "10", "--method", "rules", "-o", str(out)]) == 2
    assert "not a traces table" in capsys.readouterr().err and not out.exists()


def test_wide_layout_forced_on_a_long_table_says_what_a_wide_one_is(tmp_path):
    path = _csv(tmp_path / "long.csv", "neuron_id,frame,dff\n1,0,0.1\n1,1,0.2\n")
    with pytest.raises(InputError, match="not a wide table.*found neuron_id, frame, dff"):
        read_traces(path, "wide")
    with pytest.raises(InputError, match="needs neuron_id, frame, dff; found cell, t, value"):
        read_traces(_csv(tmp_path / "c.csv", "cell,t,value\n1,0,0.1\n"), "long")
    wide = _csv(tmp_path / "wide.csv", "neuron_id,0,1,2\n7,0.1,0.2,0.3\n")
    assert read_traces(wide).neuron_ids.tolist() == [7]  # the documented wide table still reads


def test_a_typo_in_the_frame_column_is_refused_before_any_big_allocation(tmp_path, capsys):
    table = pd.DataFrame({"neuron_id": [1, 1, 1], "frame": [0, 1, 20_000_000], "dff": [0.1] * 3})
    with pytest.raises(InputError, match=r"0 to 20000000 .*3 rows; check frame\(s\) 20000000$"):
        long_to_matrix(table)
    path = tmp_path / "huge.csv"
    table.to_csv(path, index=False)
    assert main(["transients", str(path), "--fps", "10", "-o", str(tmp_path / "o.csv")]) == 2
    assert "check frame(s) 20000000" in capsys.readouterr().err


def test_mostly_missing_frames_are_a_warning_the_cli_prints(tmp_path, capsys):
    frames = np.arange(0, 1001, 10)  # 101 of 1,001 frames
    table = pd.DataFrame({"neuron_id": 1, "frame": frames, "dff": np.sin(frames / 30.0) + 1.0})
    path = tmp_path / "sparse.csv"
    table.to_csv(path, index=False)
    with pytest.warns(UserWarning, match="900 of the 1,001 frames from 0 to 1000 have no row"):
        read_traces(path)
    out = tmp_path / "o.csv"
    assert main(["transients", str(path), "--fps", "10", "--method", "rules", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "catrack transients: warning: " in err and "900 of the 1,001 frames" in err


# --- truncated TIFFs --------------------------------------------------------------------------
def test_truncated_sima_tiff_says_how_many_images_are_left(tmp_path, capsys):
    half = _cut(shared_data("sima", "example.tif"), tmp_path / "half.tif")
    with pytest.raises(InputError, match=r"half.tif is truncated.*only 10 image\(s\) can be read"):
        open_recording(half)
    assert main(["info", str(half)]) == 2
    assert "truncated" in capsys.readouterr().err
    assert open_recording(shared_data("sima", "example.tif")).n_frames == 20  # whole file: fine


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"imagej": True, "metadata": {"axes": "TYX"}}, "only 10 of the 20 images its header"),
        # the cut falls in page 9's data: 9 whole pages (the page count said 10, h22)
        ({"compression": "zlib"}, r"only 9 image\(s\)"),
        ({"ome": True, "metadata": {"axes": "TYX"}}, r"only 10 image\(s\)"),
    ],
)
def test_truncated_tiffs_of_every_kind_are_refused(tmp_path, kwargs, message):
    movie = (np.arange(20 * 64 * 64) % 4000).reshape(20, 64, 64).astype(np.uint16)
    whole = tmp_path / "whole.tif"
    tifffile.imwrite(whole, movie, **kwargs)
    assert open_recording(whole).n_frames == 20
    cut = _cut(whole, tmp_path / "cut.tif")
    with pytest.raises(InputError, match=f"truncated.*{message}"):
        open_recording(cut)
    with pytest.raises(InputError, match="truncated"):  # summary/register/sources' reader too
        open_frames(cut)


@pytest.mark.parametrize("contiguous", [True, False])
def test_a_plain_stack_cut_in_its_page_chain_says_how_many_pages_are_whole(tmp_path, contiguous):
    """A plain multi-page TIFF (no ImageJ, OME or shaped description: nothing in its header says
    how many images it holds) cut inside the data of page k: pages 0..k-1 are whole. The message
    said "only 0 of the 1 images its header announces" for a cut in the first page (the series
    is just the pages tifffile found), and counted the cut page as readable when each page is
    written apart. Fails on the old code."""
    movie = (np.arange(12 * 32 * 32) % 4000).reshape(12, 32, 32).astype(np.uint16)
    whole = tmp_path / "whole.tif"
    with tifffile.TiffWriter(whole) as writer:
        if contiguous:
            writer.write(movie, metadata=None)
        else:
            for frame in movie:
                writer.write(frame, metadata=None, contiguous=False)
    with tifffile.TiffFile(whole) as tif:
        assert tif.series[0].kind == "uniform" and len(tif.pages) == 12  # the case itself
        starts = [page.dataoffsets[0] for page in tif.pages]
    raw = whole.read_bytes()
    cut = tmp_path / "cut.tif"
    for k in (0, 5):
        cut.write_bytes(raw[: starts[k] + 100])  # 100 bytes into page k's 2,048
        with pytest.raises(InputError) as err:
            open_recording(cut)
        said = str(err.value)
        assert said.startswith("cut.tif is truncated (the file ends before its last image): ")
        assert "announces" not in said  # a plain header announces no count
        if k == 0:
            assert said.endswith(": not one image can be read whole"), said
        else:
            assert said.endswith(": only 5 image(s) can be read"), said


def test_a_compressed_stack_written_as_one_page_of_planes_opens(tmp_path):
    """tifffile writes a compressed (4, Y, X) stack with axes TYX as ONE page of 4 samples; the
    truncation check counted pages and refused it ("only 1 of the 4 images")."""
    movie = (np.arange(4 * 16 * 16) % 900).reshape(4, 16, 16).astype(np.uint16)
    path = tmp_path / "vol.tif"
    tifffile.imwrite(path, movie, compression="zlib", metadata={"axes": "TYX"})
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1  # the case itself: one page holds the 4 frames
    rec = open_recording(path)
    np.testing.assert_array_equal(np.asarray(rec.green), movie)
    rec.close()


def test_catrack_info_on_a_truncated_tiff_is_one_line(tmp_path, capsys):
    """tifffile's own notes on the cut file ("invalid page offset", "ImageJ series metadata
    invalid") were printed as warning lines before the one line that says it is truncated."""
    movie = (np.arange(20 * 64 * 64) % 4000).reshape(20, 64, 64).astype(np.uint16)
    whole = tmp_path / "whole.tif"
    tifffile.imwrite(whole, movie, imagej=True, metadata={"axes": "TYX"})
    cut = _cut(whole, tmp_path / "cut.tif")
    capsys.readouterr()
    assert main(["info", str(cut)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "catrack: error: cut.tif is truncated (the file ends before its last image): only 10 of "
        "the 20 images its header announces can be read"
    ]


# --- stacks without a time axis ---------------------------------------------------------------
def test_imagej_stack_saved_without_frames_suggests_the_axes(tmp_path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, np.zeros((30, 16, 16), np.uint16), imagej=True)  # read back as CYX
    with pytest.raises(InputError, match=r"30 channels are frames.*\(--axes TYX\)$"):
        open_recording(path)
    assert open_recording(path, axes="TYX").n_frames == 30


# --- zarr movies ------------------------------------------------------------------------------
def test_zarr_movie_from_register_opens_in_info_and_every_recording_reader(tmp_path, capsys):
    movie = (np.arange(6 * 16 * 24) % 500).reshape(6, 16, 24).astype(np.uint16)
    path = tmp_path / "reg.zarr"
    with MovieWriter(path, movie.shape, movie.dtype, fps=5.0) as w:
        w.write(movie)
    rec = open_recording(path)
    assert (rec.n_frames, rec.fps, rec.metadata["format"]) == (6, 5.0, "zarr")
    np.testing.assert_array_equal(np.asarray(rec.green), movie)
    assert main(["info", str(path)]) == 0
    assert '"frames": 6' in capsys.readouterr().out


# --- reader notes on the CLI ------------------------------------------------------------------
def test_info_and_traces_print_the_interleaved_notes(tmp_path, capsys):
    green = make_worm_recording(n_frames=25, shape=(64, 64), n_neurons=5, seed=4).green
    path = write_movie_tiff(tmp_path / "one.tif", green)  # one channel, odd frame count
    assert main(["info", str(path), "--layout", "interleaved"]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("catrack info: warning: ")]  # fmt: skip
    notes = ("odd frame count 25", "half the file's frame rate", "look like ONE channel")
    assert len(lines) == 3 and all(any(n in ln for ln in lines) for n in notes)
    tracks = pd.DataFrame({"neuron_id": 1, "frame": range(12), "y": 32.0, "x": 32.0})
    tracks.to_csv(tmp_path / "tracks.csv", index=False)
    argv = ["traces", str(path), "--layout", "interleaved", "--tracks", str(tmp_path / "tracks.csv")]  # fmt: skip
    assert main([*argv, "--no-align", "--fps", "10", "-o", str(tmp_path / "tr.csv")]) == 0
    assert "catrack traces: warning: the even and odd frames look like ONE channel" in (
        capsys.readouterr().err
    )


# --- damaged imports --------------------------------------------------------------------------
def test_damaged_suite2p_and_minian_files_are_one_line_errors(tmp_path, capsys):
    src = DATA / "suite2p" / "1.x"
    if not src.exists():
        pytest.skip("no suite2p 1.x output in tests/data (see make_suite2p_output.py)")
    folder = shutil.copytree(src, tmp_path / "s2p")
    stat = folder / "plane0" / "stat.npy"
    stat.write_text("garbage\n")
    out = tmp_path / "out"
    assert main(["import", "suite2p", str(folder), "-o", str(out)]) == 2
    assert "stat.npy is not a NumPy .npy file" in capsys.readouterr().err and not out.exists()
    np.save(stat, np.arange(3))
    with pytest.raises(InputError, match="stat.npy is not suite2p's list of ROIs"):
        read_suite2p(folder)
    minian = shutil.copytree(DATA / "minian" / "zarr", tmp_path / "minian")
    (minian / "A.zarr" / "A" / "0.0.0").write_bytes(b"garbage")  # a damaged chunk
    with pytest.raises(InputError, match="cannot read .*A.zarr"):
        read_minian(minian, fps=20)


def test_a_tiff_shortened_while_it_is_read_is_one_line_not_a_crash(tmp_path):
    """An acquisition program restarting (truncating) the TIFF a viewer has open: reading a page
    of the memory map past the new end was a SIGBUS that killed the process, napari and all.
    In a subprocess, so the test run survives the crash it checks for."""
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "acq.tif"
    tifffile.imwrite(path, np.random.default_rng(0).integers(0, 999, (40, 32, 32), np.uint16))
    code = textwrap.dedent(
        f"""
        import os, numpy as np
        from napari_catrack.errors import InputError
        from napari_catrack.io.recording import open_recording
        rec = open_recording({str(path)!r})
        np.asarray(rec.green[39])  # read before: fine
        os.truncate({str(path)!r}, os.path.getsize({str(path)!r}) // 2)
        try:
            np.asarray(rec.green[39])
        except InputError as exc:
            print("ERROR", exc)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, f"crashed ({proc.returncode}): {proc.stderr[-500:]}"
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR acq.tif changed on disk while it was")
    assert "shortened or rewrote it" in lines[0]
