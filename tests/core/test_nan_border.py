"""Movies whose border is NaN (motion-corrected by another tool that pads with NaN): summary
images and source extraction leave the border out and match the same movie without it inside.

Before, both refused such a movie ("frame 0 contains NaN/infinite pixels").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import tifffile

from napari_catrack.cli import main
from napari_catrack.core.sources import SourcesParams, extract_sources
from napari_catrack.core.summary import GAUSS_TRUNCATE, SummaryParams, summary_images
from napari_catrack.core.valid_region import finite_region, largest_true_rectangle
from napari_catrack.errors import InputError
from napari_catrack.io.frames import open_frames
from napari_catrack.synthetic import make_two_photon_movie
from tests.core._twophoton_helpers import six_cell_movie

ROWS, COLS = (3, 38), (2, 48)  # the region finite in every frame of `with_border` (40 x 48)


def with_border(movie: np.ndarray) -> np.ndarray:
    """A NaN border as a motion correction that shifted frames by different amounts leaves it:
    3 rows on top in every frame, 2 columns on the left in even frames, 2 rows at the bottom in
    frame 5 only (the valid region is what every frame measured: rows 3-37, columns 2-47)."""
    out = movie.astype(np.float32)
    out[:, :3] = np.nan
    out[::2, :, :2] = np.nan
    out[5, -2:] = np.nan
    return out


@pytest.fixture(scope="module")
def small():
    return make_two_photon_movie(80, (40, 48), n_cells=5, seed=3, motion_px=0).movie


def test_the_region_is_what_every_frame_measured(small):
    region = finite_region(open_frames(with_border(small)), "summary images need")
    assert (region.ys, region.xs) == (ROWS, COLS)
    holed = with_border(small)
    holed[4, 20, 20] = np.nan  # a hole inside the picture is not a border
    with pytest.raises(
        InputError,
        match=r"^frame 4 contains NaN/infinite pixels inside the "
        r"picture \(first at y 20, x 20\), not only at its border; summary",
    ):
        finite_region(open_frames(holed), "summary images need")
    dropped = with_border(small)
    dropped[[7, 9]] = np.nan  # dropped frames (no pixel measured) are not a border either
    with pytest.raises(InputError, match=r"^frame 7 \(and 1 more\) has no finite pixel"):
        finite_region(open_frames(dropped), "summary images need")
    thin = small.astype(np.float32)
    thin[:, :, 5:] = np.nan  # 5 columns measured: nothing left to analyse
    with pytest.raises(InputError, match="leaves no region of at least 8x8 px"):
        finite_region(open_frames(thin), "summary images need")


def test_the_largest_rectangle_is_the_largest(small):
    """A greedy peel of edge rows and columns refused a NaN column running the full height
    ("the border leaves no 8x8 region") though half the frame was finite (h12 review)."""
    rng = np.random.default_rng(0)

    def brute(m):
        h, w = m.shape
        return max([(y1 - y0) * (x1 - x0) for y0 in range(h) for y1 in range(y0 + 1, h + 1)
                    for x0 in range(w) for x1 in range(x0 + 1, w + 1)
                    if m[y0:y1, x0:x1].all()], default=0)  # fmt: skip

    for _ in range(100):
        m = rng.random((6, 7)) > 0.3
        y0, y1, x0, x1 = largest_true_rectangle(m)
        assert m[y0:y1, x0:x1].all() and (y1 - y0) * (x1 - x0) == brute(m)
    movie = small.astype(np.float32)
    movie[:, :, 20] = np.nan  # a dead column, top to bottom
    region = finite_region(open_frames(movie), "summary images need")
    assert region.ys == (0, movie.shape[1]) and region.xs == (21, movie.shape[2])


def test_summary_images_leave_a_nan_border_out(small):
    bordered = summary_images(with_border(small), SummaryParams(chunk_frames=30))
    (y0, y1), (x0, x1) = ROWS, COLS
    cropped = summary_images(small[:, y0:y1, x0:x1].astype(np.float32))
    full = summary_images(small.astype(np.float32))
    reach = int(GAUSS_TRUNCATE * SummaryParams().pnr_sigma_px + 0.5)  # the PNR filter's reach
    for name, image in bordered.as_dict().items():
        assert image.shape == small.shape[1:]
        inside = image[y0:y1, x0:x1]
        # the region is computed as the movie cropped to it would be
        np.testing.assert_allclose(inside, cropped.as_dict()[name], rtol=1e-5, atol=1e-5)
        outside = np.ones(image.shape, bool)
        outside[y0:y1, x0:x1] = False
        assert np.isnan(image[outside]).all()  # unmeasured: no value
        # and as the movie without a border inside (the correlation's 8 neighbours and the PNR
        # filter see the region's edge: compared away from it)
        rim = {"correlation": 1, "pnr": reach}.get(name, 0)
        a = inside[rim : inside.shape[0] - rim, rim : inside.shape[1] - rim]
        b = full.as_dict()[name][y0 + rim : y1 - rim, x0 + rim : x1 - rim]
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert len(bordered.notes) == 1 and "rows 3-37 and columns 2-47" in bordered.notes[0]


def test_a_hole_inside_the_picture_is_still_refused(small):
    """Refused in one line that names the frame with the hole, not the first frame with a
    border pixel (which is not the problem any more)."""
    holed = with_border(small)
    holed[4, 20, 20] = np.nan
    with pytest.raises(InputError, match="frame 4 contains NaN/infinite pixels inside"):
        summary_images(holed)
    with pytest.raises(InputError, match="source extraction needs finite data"):
        extract_sources(holed, SourcesParams(patch_px=0), fps=30.0)


def test_cli_summary_says_what_was_left_out(tmp_path, small, capsys):
    rec = tmp_path / "nan_border.tif"
    tifffile.imwrite(rec, with_border(small))
    session = tmp_path / "s.catrack.h5"
    assert main(["summary", str(rec), "-o", str(tmp_path / "out"), "--session", str(session)]) == 0
    err = capsys.readouterr().err
    assert "warning: NaN/infinite border pixels" in err and "rows 3-37" in err
    from napari_catrack.session import Session

    assert "rows 3-37" in Session.load(session)["summary"].attrs["notes"][0]  # why NaN there
    mean = tifffile.imread(tmp_path / "out" / "mean.tif")
    assert mean.shape == (40, 48) and np.isnan(mean[:3]).all() and np.isfinite(mean[3:38, 2:]).all()


@pytest.fixture(scope="module")
def cells():
    return six_cell_movie()


def test_sources_leave_a_nan_border_out_and_find_the_same_cells(tmp_path, cells, capsys):
    movie = cells.movie.astype(np.float32)
    bordered = movie.copy()
    bordered[:, :, :4] = np.nan  # 4 columns on the left in every frame
    bordered[1::3, -3:] = np.nan  # 3 rows at the bottom in every third frame
    params = SourcesParams(patch_px=0)
    clean = extract_sources(movie, params, fps=cells.fps)
    out = extract_sources(bordered, params, fps=cells.fps)
    assert out.footprints.shape == (len(out.components), 64, 64)
    fp = np.asarray(out.footprints)  # dense (K, Y, X) for the checks (a small movie)
    assert not fp[:, :, :4].any() and not fp[:, -3:].any()
    assert "columns 4-63" in out.warnings[0] and "rows 0-60" in out.warnings[0]
    # the result is the movie cropped to the region's, in full-frame coordinates
    cropped = extract_sources(movie[:, :61, 4:], params, fps=cells.fps)
    np.testing.assert_allclose(fp[:, :61, 4:], np.asarray(cropped.footprints))
    np.testing.assert_allclose(out.components[["y", "x"]], cropped.components[["y", "x"]] + [0, 4])
    np.testing.assert_allclose(out.raw, cropped.raw)
    # and finds the cells of the movie without a border (the background model sees less of the
    # frame, so centroids move by up to ~1 px), each at a true cell, with the same trace
    a = clean.components.query("accepted")
    b = out.components.query("accepted")
    assert len(a) == len(b) >= 4
    truth = cells.truth.centres
    for k in range(len(a)):
        ya, xa = a["y"].iloc[k], a["x"].iloc[k]
        d = np.hypot(b["y"].to_numpy() - ya, b["x"].to_numpy() - xa)
        j = int(np.argmin(d))
        assert d[j] < 1.5
        assert np.hypot(*(truth - [b["y"].iloc[j], b["x"].iloc[j]]).T).min() < 1.0  # a true cell
        assert np.corrcoef(clean.raw[a.index[k]], out.raw[b.index[j]])[0, 1] > 0.95
    rec = tmp_path / "nan_border.tif"
    tifffile.imwrite(rec, bordered)
    assert main(["sources", str(rec), "--fps", "30", "--patch-px", "0", "-o", str(tmp_path / "s")]) == 0  # fmt: skip
    assert "warning: NaN/infinite border pixels" in capsys.readouterr().err


def test_fitting_drawn_cells_leaves_a_nan_border_out(cells):
    """ "Fit drawn cells" on a movie with a NaN border (SVD did not converge before): the fit runs
    on the region finite in every frame and its results are in full-frame coordinates. Ground
    truth: the synthetic cell extraction missed, drawn back by hand at its true centre near the
    NaN columns, gets the true cell's trace; a found cell reshaped next to the NaN rows too."""
    from napari_catrack.core.sources.refit import refit_components

    bordered = cells.movie.astype(np.float32)
    bordered[:, :, :4] = np.nan  # 4 columns on the left in every frame
    bordered[1::3, -3:] = np.nan  # 3 rows at the bottom in every third frame
    found = extract_sources(bordered, SourcesParams(patch_px=0), fps=cells.fps)
    truth = cells.truth.centres
    seen = found.components[["y", "x"]].to_numpy()
    missed = [k for k, c in enumerate(truth) if np.hypot(*(seen - c).T).min() > 3]
    assert missed, "every cell was found: nothing to draw"
    k = missed[0]
    yy, xx = np.mgrid[0:64, 0:64]
    disk = (yy - truth[k][0]) ** 2 + (xx - truth[k][1]) ** 2 <= 25
    assert disk[:, :4].sum() == 0 and (xx[disk] - 4).min() < 2 * SourcesParams().cell_radius_px
    low = int(found.components["y"].idxmax())  # the found cell nearest the NaN rows
    ly, lx = found.components.loc[low, ["y", "x"]]
    reshaped = (yy - ly) ** 2 + (xx - lx) ** 2 <= 20
    low_id = int(found.components.loc[low, "neuron_id"])
    out = refit_components(bordered, found, {99: disk, low_id: reshaped})
    row = out.components.iloc[-1]
    assert row["neuron_id"] == 99 and row["accepted"]
    assert np.hypot(row["y"] - truth[k][0], row["x"] - truth[k][1]) < 1.0  # full-frame centroid
    assert np.isfinite(out.raw).all() and np.isfinite(out.dff).all()
    assert np.corrcoef(out.denoised[-1], cells.truth.traces[k])[0, 1] > 0.95
    assert out.footprints.shape == (len(found.components) + 1, 64, 64)
    fp, before = np.asarray(out.footprints), np.asarray(found.footprints)  # dense, for the checks
    assert not fp[:, :, :4].any() and not fp[:, 61:].any()
    assert fp[low].any() and not np.array_equal(fp[low], before[low])
    others = [i for i in range(len(found.components)) if i != low]
    np.testing.assert_array_equal(fp[others], before[others])  # as they were
    np.testing.assert_array_equal(
        out.components.loc[others, ["y", "x"]], found.components.loc[others, ["y", "x"]]
    )
    assert any("fitting drawn cells used rows 0-60 and columns 4-63" in w for w in out.warnings)
    # the session keeps the extraction's note and the refit's (attrs `notes` of `sources`)
    from napari_catrack.core.sources.session import record_sources
    from napari_catrack.session import Session

    session = Session(autosave=False)
    record_sources(session, found)
    assert session["sources"].attrs["notes"] == found.warnings
    record_sources(session, replace(out, warnings=out.warnings[-1:]), origin="edited")
    notes = session["sources"].attrs["notes"]
    assert "source extraction used rows 0-60" in notes[0] and "fitting drawn cells" in notes[1]
    edge = np.zeros((64, 64), bool)
    edge[20:30, :4] = True  # drawn only where nothing was measured in every frame
    with pytest.raises(InputError, match="lies in the NaN border.*columns 4-63"):
        refit_components(bordered, found, {98: edge})
