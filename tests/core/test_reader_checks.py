"""What the readers refuse or warn about, in one line each (core, no Qt): tables that are not
traces, typo'd frame numbers, truncated TIFFs, stacks without a time axis, damaged imports; and
the `.zarr` movie `catrack register` writes, which every command opens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_catrack.cli import main
from napari_catrack.errors import InputError
from napari_catrack.io.frames import MovieWriter, open_frames
from napari_catrack.io.recording import open_recording
from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.synthetic import make_worm_recording
from tests.conftest import shared_data


def _cut(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    raw = src.read_bytes()
    dst.write_bytes(raw[: int(len(raw) * fraction)])
    return dst


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
        ({"compression": "zlib"}, r"only 10 image\(s\)"),
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
