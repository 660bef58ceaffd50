"""Input-file provenance (`io/provenance.py`) and `Session.provenance()`."""

from __future__ import annotations

import hashlib

import numpy as np

from napari_catrack.io import provenance
from napari_catrack.io.provenance import file_provenance, inputs_provenance
from napari_catrack.session import Session


def test_small_file_is_hashed_whole(tmp_path):
    path = tmp_path / "tracks.csv"
    path.write_bytes(b"neuron_id,frame,y,x\n1,0,2.0,3.0\n")
    facts = file_provenance(path)
    assert facts["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert facts["sha256_of"] == "whole file" and facts["size"] == path.stat().st_size
    assert facts["path"] == str(path.resolve()) and facts["mtime"].endswith("+00:00")


def test_large_file_is_hashed_by_its_ends_and_size(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "WHOLE_LIMIT", 1000)
    monkeypatch.setattr(provenance, "ENDS", 100)
    data = np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes()
    path = tmp_path / "movie.tif"
    path.write_bytes(data)
    facts = file_provenance(path)
    expected = hashlib.sha256(data[:100] + data[-100:] + b"5000").hexdigest()
    assert facts["sha256"] == expected and facts["sha256_of"] == "first and last 8 MiB + size"
    # a change in the middle is not seen (the documented price), a change at an end is
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert file_provenance(path)["sha256"] != expected


def test_folder_of_frames_and_missing_input(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        (folder / f"f{i}.tif").write_bytes(bytes([i]) * 10)
    facts = file_provenance(folder)
    assert facts["files"] == 3 and facts["size"] == 30
    assert (
        facts["sha256"] == hashlib.sha256(b"".join(bytes([i]) * 10 for i in range(3))).hexdigest()
    )
    assert file_provenance(tmp_path / "gone.csv")["missing"] is True


def test_session_provenance_lists_inputs(tmp_path):
    path = tmp_path / "traces.csv"
    path.write_text("neuron_id,frame,dff\n1,0,0.5\n")
    session = Session(tmp_path / "s.catrack.h5")
    session.record(
        "traces", attrs={"inputs": inputs_provenance(session, {"traces": path, "align": None})}
    )
    loaded = Session.load(session.path)
    inputs = loaded.provenance()["traces"]["inputs"]
    assert list(inputs) == ["traces"] and inputs["traces"]["path"] == str(path.resolve())


def test_catrack_info_on_a_session_shows_its_provenance(tmp_path, capsys):
    """Review h10: `catrack info S.catrack.h5` took the session for an HDF5 movie and failed
    with a list of every dataset in it; it now prints how the results were made."""
    import json

    import tifffile

    from napari_catrack import __version__
    from napari_catrack.cli import main

    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.random.default_rng(0).normal(100, 5, (40, 24, 24)).astype("f4"))
    session = tmp_path / "s.catrack.h5"
    assert main(["summary", str(movie), "-o", str(tmp_path / "summary"), "--noise-frames", "16",
                 "--session", str(session)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["info", str(session)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["package_version"] == __version__
    assert shown["recording"]["path"] == str(movie)
    step = shown["steps"]["summary"]
    assert step["params"] == Session.load(session)["summary"].params and step["params"]
    assert step["inputs"]["recording"]["sha256"] == hashlib.sha256(movie.read_bytes()).hexdigest()
