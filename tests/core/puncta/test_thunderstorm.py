"""ThunderSTORM CSV: exactly its format out, its variants in, one clear line for a bad table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.errors import InputError
from napari_catrack.io.thunderstorm import (
    from_thunderstorm,
    read_thunderstorm,
    to_thunderstorm,
    write_thunderstorm,
)

HEADER = (
    '"id","frame","x [nm]","y [nm]","sigma [nm]","intensity [photon]","offset [photon]",'
    '"bkgstd [photon]","uncertainty [nm]"'
)


def _locs():
    return pd.DataFrame(
        {
            "frame": [0, 0, 4],
            "x": [0.0, 10.25, 31.5],
            "y": [0.0, 3.5, 7.75],
            "sigma": [1.2, 1.1, 1.3],
            "photons": [1000.0, 250.5, 3000.0],
            "background": [20.0, 21.0, 19.5],
            "bkgstd": [4.5, 4.6, 4.4],
            "uncertainty": [0.05, 0.1, 0.03],
        }
    )


def test_written_exactly_in_thunderstorm_format(tmp_path):
    path = write_thunderstorm(_locs(), tmp_path / "localizations.csv", 100.0)
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    # (col + 0.5) x px, 1-based; ids and frames as 1.0, lengths in one fixed format (0.1 pm)
    assert lines[1].split(",")[:4] == ["1.0", "1.0", "50.0000", "50.0000"]
    row = lines[3].split(",")
    assert row[0] == "3.0" and row[1] == "5.0"
    assert float(row[2]) == pytest.approx((31.5 + 0.5) * 100)
    assert float(row[8]) == pytest.approx(3.0)  # uncertainty in nm
    back = from_thunderstorm(read_thunderstorm(path), 100.0)
    pd.testing.assert_frame_equal(back, _locs(), check_dtype=False)


def test_reads_thunderstorm_variants(tmp_path):
    text = (
        '"id","frame","x [µm]","y [µm]","sigma [nm]","intensity [photon]","offset [photon]",'
        '"bkgstd [photon]","chi2","uncertainty_xy [nm]"\n'
        "1.0,2.0,1.05,2.05,120.0,900.0,10.0,3.0,55.0,8.0\n"
    )
    (tmp_path / "ts.csv").write_text(text, encoding="utf-8")
    locs = from_thunderstorm(read_thunderstorm(tmp_path / "ts.csv"), 100.0)
    assert locs.frame.tolist() == [1]
    assert locs.x.iloc[0] == pytest.approx(10.0) and locs.y.iloc[0] == pytest.approx(20.0)
    assert locs.uncertainty.iloc[0] == pytest.approx(0.08)
    minimal = pd.DataFrame({"frame": [1.0], "x [nm]": [150.0], "y [nm]": [50.0]})
    assert np.isnan(from_thunderstorm(minimal, 100.0).photons.iloc[0])


@pytest.mark.parametrize(
    "text, message",
    [
        ('"id","frame","x [nm]"\n1,1,10\n', "lacks column\\(s\\) y \\[nm\\]"),
        ('"frame","x [nm]","y [nm]"\n1,10,abc\n', "line 2 has a missing or non-numeric"),
        ('"frame","x [nm]","y [nm]"\n0,10,10\n', "1-based"),
        ('"frame","x [px]","y [px]"\n1,10,10\n', "in pixels"),
        ("", "cannot read ThunderSTORM table"),
    ],
)
def test_malformed_tables_get_one_clear_line(tmp_path, text, message):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(InputError, match=message):
        from_thunderstorm(read_thunderstorm(tmp_path / "bad.csv"), 100.0)


def test_missing_file_and_columns():
    with pytest.raises(InputError, match="not found"):
        read_thunderstorm("/nonexistent/ts.csv")
    with pytest.raises(InputError, match="lack column"):
        to_thunderstorm(pd.DataFrame({"frame": [0]}), 100.0)


def test_localizations_are_read_back_from_a_new_and_an_old_export(tmp_path):
    """An export's puncta/localizations.csv now has ThunderSTORM's names (nm, 1-based frames)
    and the session's extras; one written before had `frame,x,y,...` in pixels (0-based). The
    widget's import and `catrack train-puncta --labels` read both as the same localisations."""
    from napari_catrack.io.thunderstorm import read_localizations, with_extra_columns

    locs = _locs().assign(track_id=[0, 0, -1], uncertainty_x=[0.04, 0.08, 0.02])
    new = tmp_path / "new.csv"
    write_thunderstorm(with_extra_columns(locs, 100.0), new, 0.0, internal=False)
    header = new.read_text().splitlines()[0]
    assert header.startswith(HEADER) and header.endswith('"track_id","uncertainty_x [nm]"')
    old = tmp_path / "old.csv"
    locs.to_csv(old, index=False)  # the old export: the session's own columns
    for path in (new, old):
        back = read_localizations(path, 100.0)
        pd.testing.assert_frame_equal(back, _locs(), check_dtype=False, atol=1e-6)
    (tmp_path / "bad.csv").write_text("frame,x,y\n0,1.5,\n")
    with pytest.raises(InputError, match="missing or non-numeric frame, x or y"):
        read_localizations(tmp_path / "bad.csv", 100.0)
