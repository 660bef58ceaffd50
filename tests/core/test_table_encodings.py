"""Tables from Excel on Windows: cp1252 ("CSV (Comma delimited)"), UTF-16 ("Unicode text") and
UTF-8 with a BOM ("CSV UTF-8") are read by every table reader (`io.text_encoding`); the cp1252
guess is one warning line, never silent. Before, cp1252 was refused ("is not UTF-8 text") and a
UTF-16 file was called binary."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.errors import InputError
from napari_catrack.io.events import read_events
from napari_catrack.io.stage import read_stage
from napari_catrack.io.tables import read_table
from napari_catrack.io.thunderstorm import read_thunderstorm

NOTE = "read as Windows-1252 (not UTF-8): check µ, ° and accented letters in its column names and values"


def _notes(caught) -> list[str]:
    return [str(w.message) for w in caught if NOTE in str(w.message)]


def test_a_cp1252_table_is_read_with_one_note(tmp_path):
    """µ in a header, é in a name, ° in a cell, and the 5 bytes cp1252 leaves undefined."""
    path = tmp_path / "cells.csv"
    path.write_bytes(
        "neuron_id,name,size_µm,temp\n1,Zoë,2.5,20°C\n2,café,3.0,21°C\n".encode("cp1252")
        + b"3,x\x81\x9d,1.0,0\n"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = read_table(path, ("neuron_id", "size_µm"), "cells table")
    assert list(table.columns) == ["neuron_id", "name", "size_µm", "temp"]
    assert table["name"].tolist() == ["Zoë", "café", "x\x81\x9d"]
    assert table["size_µm"].tolist() == [2.5, 3.0, 1.0]
    assert table["temp"].tolist()[:2] == ["20°C", "21°C"]
    assert _notes(caught) == [f"cells table cells.csv {NOTE}"]


@pytest.mark.parametrize(
    ("encoding", "suffix"), [("utf-16", ".txt"), ("utf-16", ".csv"), ("utf-8-sig", ".csv")]
)
def test_utf16_and_utf8_bom_tables_are_read_without_a_note(tmp_path, encoding, suffix):
    """Excel's "Unicode text" (UTF-16 with a BOM, tab-separated) and "CSV UTF-8" (a BOM)."""
    sep = "\t" if encoding == "utf-16" else ","
    path = tmp_path / f"cells{suffix}"
    rows = ["neuron_id", "name", "size_µm"], ["1", "Zoë", "2.5"], ["2", "中", "3"]
    path.write_bytes("\r\n".join(sep.join(r) for r in rows).encode(encoding))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = read_table(path, ("neuron_id", "size_µm"), "cells table")
    assert list(table.columns) == ["neuron_id", "name", "size_µm"]  # no BOM in the first name
    assert table["name"].tolist() == ["Zoë", "中"]
    assert table["size_µm"].tolist() == [2.5, 3.0]
    assert not _notes(caught)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_utf16_without_a_bom_and_utf32_tables_are_read(tmp_path, encoding):
    """UTF-16 without a BOM (some Windows tools and instruments) was valid UTF-8 (NUL is a UTF-8
    character) and read as one garbage column per name with NULs between the letters; UTF-32's
    little-endian BOM starts with UTF-16's, so it was read as UTF-16 with NUL characters."""
    path = tmp_path / "cells.csv"
    rows = ["neuron_id,name,size_µm", "1,Zoë,2.5", "2,中,3"]
    path.write_bytes("\r\n".join(rows).encode(encoding))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = read_table(path, ("neuron_id", "size_µm"), "cells table")
    assert list(table.columns) == ["neuron_id", "name", "size_µm"]
    assert table["name"].tolist() == ["Zoë", "中"]
    assert table["size_µm"].tolist() == [2.5, 3.0]
    assert not _notes(caught)


def test_what_is_taken_for_utf16_without_a_bom(tmp_path):
    """The NUL-byte pattern decides, not a lone NUL: binary data and invalid UTF-16 are refused
    in one line (naming the encoding where it looked like one), never read as columns."""
    from napari_catrack.io.text_encoding import text_encoding

    long = tmp_path / "long.csv"  # the 8 KiB start cut inside a surrogate pair: still UTF-16
    long.write_bytes(("a,b\n" + "1,😀\n" * 2000).encode("utf-16-le"))
    assert text_encoding(long)[0] == "utf-16-le"
    bad = tmp_path / "bad.csv"  # a lone low surrogate after the start
    bad.write_bytes(
        "a,b\n1,2\n".encode("utf-16-le") * 3000 + b"\x00\xdc" + "3,4\n".encode("utf-16-le")
    )
    with pytest.raises(InputError, match=r"bad.csv looks like UTF-16 \(little-endian, no BOM\)"):
        read_table(bad, (), "cells table")
    pixels = tmp_path / "pixels.csv"  # 16-bit samples 1..255: the NUL pattern, not text
    pixels.write_bytes(np.tile(np.arange(1, 256, dtype="<u2"), 12).tobytes())
    with pytest.raises(InputError, match="binary"):
        read_table(pixels, (), "cells table")
    tiff = tmp_path / "image.csv"  # a TIFF's signature first: binary whatever follows
    tiff.write_bytes(b"II*\0" + "a,b\n1,2\n".encode("utf-16-le") * 10)
    with pytest.raises(InputError, match="binary"):
        read_table(tiff, (), "cells table")


def test_a_binary_file_is_still_called_binary(tmp_path):
    path = tmp_path / "image.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    with pytest.raises(InputError, match="binary"):
        read_table(path, (), "cells table")


def test_a_cp1252_stage_log_with_um_in_micro_signs_is_found(tmp_path):
    """`stage_x_µm` (cp1252 byte 0xb5) is the stage_x_um column; UTF-16 and Greek mu too."""
    for name, data in (
        ("cp.csv", "time_s;stage_y_µm;stage_x_µm\n0;1,5;2\n1;2,5;4\n".replace(",", ".")),
        ("u16.csv", "time_s\tstage_y_\u03bcm\tstage_x_\u03bcm\n0\t1.5\t2\n1\t2.5\t4\n"),
    ):
        path = tmp_path / name
        path.write_bytes(data.encode("cp1252" if name == "cp.csv" else "utf-16"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            log = read_stage(path)
        np.testing.assert_allclose(log.yx_um, [[1.5, 2.0], [2.5, 4.0]])
        np.testing.assert_allclose(log.time_s, [0, 1])
        assert len(_notes(caught)) == (1 if name == "cp.csv" else 0)


def test_cp1252_event_file_and_thunderstorm_table(tmp_path):
    """A German Excel event file (`;`, decimal commas, ä) and a ThunderSTORM table edited in
    Excel (lengths in `[µm]`, cp1252's byte 0xb5)."""
    events = tmp_path / "events.csv"
    events.write_bytes("time (s);event\n1,5;Reiz ä\n3;Reiz ä\n".encode("cp1252"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = read_events(events)
    assert table["event"].tolist() == ["Reiz ä", "Reiz ä"]
    assert table["time_s"].tolist() == [1.5, 3.0]
    assert len(_notes(caught)) == 1
    storm = tmp_path / "locs.csv"
    storm.write_bytes('"id","frame","x [µm]","y [µm]"\n1,1,0.1,0.2\n'.encode("cp1252"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        locs = read_thunderstorm(storm)
    np.testing.assert_allclose(locs[["x [nm]", "y [nm]"]].to_numpy(), [[100.0, 200.0]])
    assert len(_notes(caught)) == 1


def test_catrack_velocity_reads_a_cp1252_stage_log_and_says_so(tmp_path, capsys):
    """End to end: a stage log from Excel on Windows with `stage_x_µm`; the worm sits at the
    image centre, so its velocity is the stage's (x: +100 µm/s)."""
    n, fps = 20, 10.0
    t = np.arange(n) / fps
    lines = ["time_s,stage_y_µm,stage_x_µm"] + [f"{v:.2f},50.0,{100 * v:.3f}" for v in t]
    stage = tmp_path / "stage.csv"
    stage.write_bytes("\r\n".join(lines).encode("cp1252"))
    tracks = tmp_path / "tracks.csv"
    pd.DataFrame({"neuron_id": 1, "frame": np.arange(n), "y": 80.0, "x": 80.0}).to_csv(
        tracks, index=False
    )
    out = tmp_path / "v.csv"
    argv = ["velocity", "--stage", str(stage), "--tracks", str(tracks), "--pixel-size", "1",
            "--fps", str(fps), "--image-size", "161,161", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count(NOTE) == 1, err
    assert f"catrack velocity: warning: the stage log stage.csv {NOTE}" in err
    v = pd.read_csv(out)
    np.testing.assert_allclose(v["vx_um_s"].to_numpy()[2:-2], 100.0, atol=1e-6)
    np.testing.assert_allclose(v["vy_um_s"].to_numpy()[2:-2], 0.0, atol=1e-6)
