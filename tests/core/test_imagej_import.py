"""`catrack import imagej`: hand-drawn ImageJ/Fiji ROIs (RoiSet.zip or one .roi) over a movie
become sources. ROIs written with roifile over a synthetic movie whose pixel values are known:
the masks follow ImageJ's pixel-centre rule and the traces are exactly the mean inside them;
SIMA's real ROIs over its real movie (../shared/data/sima); inputs that are wrong say so."""

from __future__ import annotations

import numpy as np
import pytest
import roifile
import tifffile

from napari_catrack.cli import main
from napari_catrack.core.sources.imported import mask_means
from napari_catrack.errors import InputError
from napari_catrack.io.frames import open_frames
from napari_catrack.io.imagej_rois import imagej_masks, read_imagej
from napari_catrack.io.sources import read_sources
from tests.conftest import shared_data

SHAPE = (40, 50)  # (Y, X)


def _polygon(points, name):
    return roifile.ImagejRoi.frompoints(np.asarray(points, float), name=name)


def _box(kind, left, top, right, bottom, name):
    return roifile.ImagejRoi(roitype=kind, left=left, top=top, right=right, bottom=bottom, name=name)  # fmt: skip


def _expected():
    """The masks ImageJ makes of the ROIs of `_rois` (pixel (y, x) in when its centre is)."""
    poly = np.zeros(SHAPE, bool)
    poly[3:8, 4:10] = True  # polygon with corners x 4..10, y 3..8
    rect = np.zeros(SHAPE, bool)
    rect[20:26, 30:33] = True
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]] + 0.5
    oval = ((xx - 17.0) / 6.0) ** 2 + ((yy - 25.0) / 4.0) ** 2 < 1  # box x 11..23, y 21..29
    return [poly, rect, oval]


def _rois():
    return [
        _polygon([[4, 3], [10, 3], [10, 8], [4, 8]], "cell-a"),
        _box(roifile.ROI_TYPE.RECT, 30, 20, 33, 26, "cell-b"),
        _box(roifile.ROI_TYPE.OVAL, 11, 21, 23, 29, "cell-c"),
    ]


@pytest.fixture
def movie(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.integers(0, 4000, (30, *SHAPE)).astype(np.uint16)
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TYX", "finterval": 0.1})
    return path, data


def test_polygon_rectangle_and_oval_become_exact_footprints_and_mean_traces(tmp_path, movie):
    path, data = movie
    zip_path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(zip_path, _rois())
    res = read_imagej(zip_path, path)
    want = _expected()
    assert res.footprints.shape == (3, *SHAPE)
    for k, mask in enumerate(want):
        np.testing.assert_array_equal(res.footprints[k] > 0, mask)
        np.testing.assert_allclose(res.raw[k], data[:, mask].astype(float).mean(axis=1), rtol=1e-12)  # fmt: skip
    comps = res.components
    assert comps["name"].tolist() == ["cell-a", "cell-b", "cell-c"]
    assert comps["neuron_id"].tolist() == [1, 2, 3]  # ImageJ's numbers; 0 is no cell in a layer
    assert comps["area"].tolist() == [int(m.sum()) for m in want] == [30, 18, comps["area"][2]]
    assert comps["accepted"].all() and res.fps == pytest.approx(10.0)  # the movie's own rate
    # the CLI writes the same three files as `catrack sources`, and a single .roi file works
    out = tmp_path / "out"
    assert main(["import", "imagej", str(zip_path), "--movie", str(path), "-o", str(out)]) == 0
    files = read_sources(out)
    assert files.components["name"].tolist() == ["cell-a", "cell-b", "cell-c"]
    assert len(files.traces) == 3 * 30
    one = tmp_path / "one.roi"
    _rois()[2].tofile(one)
    single = read_imagej(one, path, fps=5.0)
    np.testing.assert_array_equal(single.footprints[0] > 0, want[2])
    assert single.fps == 5.0 and single.notes == ["1 ROI(s) over 30 frames, fs 5 Hz (given)"]
    assert single.warnings == ["--fps 5 differs from the 10 Hz the movie states: 5 Hz is used"]
    assert res.notes == ["3 ROI(s) over 30 frames, fs 10 Hz (from the movie)"]


def test_mask_means_in_chunks_equal_the_whole_movie():
    rng = np.random.default_rng(0)
    data = rng.normal(100, 10, (23, *SHAPE))
    masks = np.stack(_expected())
    frames = open_frames(data)
    whole = mask_means(frames, masks)
    chunked = mask_means(frames, masks, chunk_bytes=8 * SHAPE[0] * SHAPE[1] * 4)  # 4 frames
    np.testing.assert_allclose(chunked, whole, rtol=1e-12)
    np.testing.assert_allclose(whole[1], data[:, masks[1]].mean(axis=1), rtol=1e-12)


def test_rois_clipped_outside_or_without_area_are_skipped_with_one_warning_each(tmp_path):
    rois = [
        _polygon([[45, 35], [60, 35], [60, 50], [45, 50]], "edge"),  # half outside: clipped
        _box(roifile.ROI_TYPE.RECT, 100, 100, 110, 110, "far"),  # outside the frame
        _box(roifile.ROI_TYPE.OVAL, 200, 5, 210, 9, "far-oval"),
        _polygon([[1, 1], [5, 5]], "line"),  # a polygon of two points: empty
        roifile.ImagejRoi(roitype=roifile.ROI_TYPE.LINE, x1=1, y1=1, x2=9, y2=9, name="a-line"),
        roifile.ImagejRoi(
            roitype=roifile.ROI_TYPE.POINT,
            n_coordinates=1,
            integer_coordinates=np.array([[3, 3]], np.int16),
            left=0,
            top=0,
            name="pt",
        ),
        roifile.ImagejRoi(
            roitype=roifile.ROI_TYPE.RECT,
            subtype=roifile.ROI_SUBTYPE.TEXT,
            left=1,
            top=1,
            right=20,
            bottom=8,
            name="label",
            text="hi",
        ),
    ]
    zip_path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(zip_path, rois)
    masks, ids, names, warnings = imagej_masks(zip_path, SHAPE)
    assert names == ["edge"] and ids.tolist() == [1]
    want = np.zeros(SHAPE, bool)
    want[35:40, 45:50] = True
    np.testing.assert_array_equal(masks[0], want)
    assert len(warnings) == 2
    assert "have no area and were skipped" in warnings[0]
    assert "a-line (line)" in warnings[0] and "pt (point)" in warnings[0]
    assert "label (text)" in warnings[0] and "3 ROI(s)" in warnings[0]
    assert "outside the 50 x 40 frame" in warnings[1] and "far, far-oval, line" in warnings[1]


def test_bad_roi_files_and_rois_of_another_movie_are_one_line_errors(tmp_path, movie, capsys):
    path, _ = movie
    not_roi = tmp_path / "notes.roi"
    not_roi.write_bytes(b"x" * 100)
    (tmp_path / "notes.txt").write_text("x")
    text_zip = tmp_path / "text.zip"
    import zipfile

    with zipfile.ZipFile(text_zip, "w") as z:
        z.writestr("a.roi", "hello" * 30)
    far = tmp_path / "far.zip"
    roifile.roiwrite(far, [_box(roifile.ROI_TYPE.RECT, 300, 300, 310, 310, "x"), _box(roifile.ROI_TYPE.OVAL, 60, 0, 70, 8, "y")])  # fmt: skip
    for roi_path, msg in (
        (not_roi, "notes.roi is not an ImageJ ROI file"),
        (text_zip, "text.zip is not an ImageJ ROI file"),
        (
            tmp_path / "notes.txt",
            "notes.txt is not an ImageJ ROI file: give a .roi file, a RoiSet .zip or an ImageJ TIFF with an overlay",
        ),
        (path, "movie.tif holds no ImageJ ROIs (no overlay or selection saved with the image)"),
        (tmp_path / "missing.zip", "no such ImageJ ROI file"),
        (far, "none of the 2 area ROI(s) of far.zip lies inside the movie's 50 x 40 frame"),
    ):
        with pytest.raises(InputError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            read_imagej(roi_path, path)
        out = tmp_path / "o"
        assert main(["import", "imagej", str(roi_path), "--movie", str(path), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()
    zip_path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(zip_path, _rois())
    assert main(["import", "imagej", str(zip_path), "-o", str(tmp_path / "o")]) == 2
    assert "needs --movie MOVIE" in capsys.readouterr().err
    assert main(["import", "minian", str(zip_path), "--movie", str(path), "-o", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "--movie, --z-projection and --channel are for imagej ROIs" in capsys.readouterr().err
    bare = tmp_path / "bare.tif"
    tifffile.imwrite(bare, np.zeros((5, *SHAPE), np.uint16))  # no frame rate stored
    assert main(["import", "imagej", str(zip_path), "--movie", str(bare), "-o", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "give it (--fps)" in capsys.readouterr().err


def test_sima_hand_drawn_rois_over_the_real_movie(tmp_path, capsys):
    zip_path = shared_data("sima", "imageJ_ROIs.zip")
    movie = shared_data("sima", "example.tif")
    n_rois = len(roifile.roiread(zip_path))
    out, session = tmp_path / "out", tmp_path / "s.catrack.h5"
    code = main(["import", "imagej", str(zip_path), "--movie", str(movie), "--fps", "2",
                 "-o", str(out), "--session", str(session)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    files = read_sources(out)
    comps = files.components
    assert len(comps) == n_rois == 2
    assert comps["name"].tolist() == [r.name for r in roifile.roiread(zip_path)]
    for roi, (_, row) in zip(roifile.roiread(zip_path), comps.iterrows(), strict=True):
        box = (roi.right - roi.left) * (roi.bottom - roi.top)
        assert 0.4 * box < row["area"] < box  # a cell outline fills part of its bounding box
        assert roi.left <= row["x"] <= roi.right and roi.top <= row["y"] <= roi.bottom
    from napari_catrack.session import Session

    s = Session.load(session)
    assert s["sources"].attrs["origin"] == "imagej"
    assert s["sources"].params["import"]["tool"] == "imagej"
    assert len(s["sources"].tables["components"]) == 2


# ------------------------------------------------------------------ neuropil (suite2p's ring)
NP_SHAPE = (70, 80)


def _np_rois():
    return [
        _polygon([[20, 20], [28, 20], [28, 27], [20, 27]], "a"),  # 8 x 7 px
        _box(roifile.ROI_TYPE.RECT, 31, 22, 36, 28, "b"),  # 3 px right of "a": inside a's ring
        _box(roifile.ROI_TYPE.OVAL, 50, 40, 60, 52, "c"),
    ]


def _reference_rings(masks, gap, min_px):
    """suite2p's rule written out by brute force: the distance of every pixel to the nearest
    pixel of the ROI (all pairs, no distance transform), pixels of no ROI beyond the gap, the
    nearest `min_px` of them (and any tied at the last distance)."""
    yy, xx = np.mgrid[: masks.shape[1], : masks.shape[2]]
    rings = []
    for m in masks:
        py, px = np.nonzero(m)
        d = np.sqrt((yy[..., None] - py) ** 2 + (xx[..., None] - px) ** 2).min(axis=-1)
        free = ~masks.any(axis=0) & (d > gap)
        reach = np.sort(d[free])[min_px - 1]
        rings.append(free & (d <= reach))
    return np.stack(rings)


def test_neuropil_rings_follow_suite2p_rule_gap_exclusion_and_size():
    from napari_catrack.core.sources.neuropil import neuropil_masks
    from napari_catrack.core.sources.params import NeuropilParams

    masks = np.stack([roi_mask_of(r, NP_SHAPE) for r in _np_rois()])
    for gap, min_px in ((2, 350), (0, 60), (4, 900)):
        rings = neuropil_masks(masks, NeuropilParams(inner_neuropil_radius_px=gap, min_neuropil_pixels=min_px))  # fmt: skip
        np.testing.assert_array_equal(rings, _reference_rings(masks, gap, min_px))
        assert not (rings & masks.any(axis=0)).any()  # no ROI's pixel, its own or another's
        assert (rings.reshape(3, -1).sum(axis=1) >= min_px).all()
    # the defaults are suite2p's: a 2 px gap, at least 350 px
    rings = neuropil_masks(masks)
    from scipy import ndimage

    near = ndimage.binary_dilation(masks[0], iterations=2)  # within 2 px (city block) of "a"
    assert not (rings[0] & near).any() and 350 <= rings[0].sum() < 380
    assert not rings[0][masks[1]].any()  # "b" lies inside a's ring: left out


def roi_mask_of(roi, shape):
    from napari_catrack.io.imagej_rois import roi_mask

    return roi_mask(roi, shape)


def test_neuropil_coefficient_removes_a_known_neuropil_and_is_recorded(tmp_path):
    """A movie made of a cell signal inside each ROI plus a neuropil time course everywhere:
    with coefficient 1 the raw trace is the cell signal alone; with 0.7 it is F - 0.7 Fneu,
    Fneu the mean of the reference ring; off (default) it is F."""
    rng = np.random.default_rng(7)
    t = 40
    masks = np.stack([roi_mask_of(r, NP_SHAPE) for r in _np_rois()])
    cells = rng.uniform(50, 150, (3, t))
    neuropil = 200 + 50 * np.sin(np.arange(t) / 3.0)
    movie = np.broadcast_to(neuropil[:, None, None], (t, *NP_SHAPE)).copy()
    for m, c in zip(masks, cells, strict=True):
        movie[:, m] += c[:, None]
    zip_path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(zip_path, _np_rois())
    from napari_catrack.core.sources.params import NeuropilParams

    full = read_imagej(zip_path, movie, fps=10.0, neuropil=NeuropilParams(neuropil_coefficient=1.0))  # fmt: skip
    np.testing.assert_allclose(full.raw, cells, rtol=1e-9)  # the neuropil is gone exactly
    noisy = movie + rng.normal(0, 20, movie.shape)  # a ring mean that is not the cell's surround
    rings = _reference_rings(masks, 2, 350)
    part = read_imagej(zip_path, noisy, fps=10.0, neuropil=NeuropilParams(neuropil_coefficient=0.7))  # fmt: skip
    for k in range(3):
        f = noisy[:, masks[k]].mean(axis=1)
        fneu = noisy[:, rings[k]].mean(axis=1)
        np.testing.assert_allclose(part.raw[k], f - 0.7 * fneu, rtol=1e-9)
    assert part.components["neuropil_px"].tolist() == rings.reshape(3, -1).sum(axis=1).tolist()
    assert any("raw = F - 0.7 * Fneu" in n for n in part.notes)
    assert np.isfinite(part.dff).all()  # relative to the baseline plus the subtracted neuropil
    off = read_imagej(zip_path, noisy, fps=10.0)
    np.testing.assert_allclose(off.raw[0], noisy[:, masks[0]].mean(axis=1), rtol=1e-12)
    assert "neuropil_px" not in off.components

    # CLI and session: the settings are stored where the provenance is read
    import h5py

    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session

    mpath = write_movie_tiff(tmp_path / "m.tif", noisy.astype(np.float32), fps=10.0)
    out, session = tmp_path / "out", tmp_path / "s.catrack.h5"
    assert main(["import", "imagej", str(zip_path), "--movie", str(mpath), "-o", str(out),
                 "--neuropil-coefficient", "0.7", "--session", str(session)]) == 0  # fmt: skip
    with h5py.File(out / "footprints.h5") as f:
        assert f.attrs["neuropil_coefficient"] == 0.7 and f.attrs["min_neuropil_pixels"] == 350
    s = Session.load(session)
    stored = s["sources"].params["import"]["neuropil"]
    assert stored == {"neuropil_coefficient": 0.7, "inner_neuropil_radius_px": 2, "min_neuropil_pixels": 350}  # fmt: skip
    assert s["traces"].params["import"]["neuropil"] == stored
    raw = read_sources(out).traces.query("neuron_id == 1")["raw"].to_numpy()
    np.testing.assert_allclose(raw, part.raw[0], rtol=1e-5)


def test_neuropil_options_are_for_imagej_only_and_small_frames_are_said(tmp_path, capsys):
    zip_path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(zip_path, _np_rois())
    assert main(["import", "suite2p", str(tmp_path), "-o", str(tmp_path / "o"), "--neuropil-coefficient", "0.7"]) == 2  # fmt: skip
    assert "--neuropil-coefficient is for imagej ROIs" in capsys.readouterr().err
    from napari_catrack.core.sources.params import NeuropilParams

    with pytest.raises(InputError, match="--neuropil-coefficient must be >= 0; got -1"):
        NeuropilParams(neuropil_coefficient=-1)

    small = np.ones((5, 40, 45))  # 1800 px, most of them too close to a ROI or inside one
    res = read_imagej(zip_path, small, fps=1.0, neuropil=NeuropilParams(neuropil_coefficient=0.5, min_neuropil_pixels=1700))  # fmt: skip
    assert any("neuropil ring under 1700 px" in w for w in res.warnings), res.warnings
    np.testing.assert_allclose(res.raw, 0.5)  # 1 - 0.5 * 1 with rings smaller than asked


# ------------------------------------------------------------------ TIFF overlays, positions
def test_rois_in_a_tiffs_overlay_are_measured_on_that_tiff(tmp_path, capsys):
    """Fiji's Image > Overlay > Add Selection, saved with the TIFF: the ROIs travel inside the
    movie; `catrack import imagej movie.tif` reads them (and the saved selection) and measures
    them on that same TIFF."""
    rng = np.random.default_rng(4)
    data = rng.integers(0, 4000, (12, *SHAPE)).astype(np.uint16)
    rois = _rois()
    path = tmp_path / "drawn.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={
        "axes": "TYX", "finterval": 0.05, "Overlays": [r.tobytes() for r in rois[:2]],
        "ROI": rois[2].tobytes(),
    })  # fmt: skip
    out = tmp_path / "out"
    assert main(["import", "imagej", str(path), "-o", str(out)]) == 0, capsys.readouterr().err
    files = read_sources(out)
    assert files.components["name"].tolist() == ["cell-a", "cell-b", "cell-c"]
    for k, mask in enumerate(_expected()):
        raw = files.traces.query(f"neuron_id == {k + 1}")["raw"].to_numpy()
        np.testing.assert_allclose(raw, data[:, mask].astype(float).mean(axis=1), rtol=1e-6)
    assert np.allclose(np.diff(files.traces.query("neuron_id == 1")["time_s"]), 0.05)
    single = tmp_path / "one.tiff"  # one overlay ROI (tifffile gives bytes, not a list)
    tifffile.imwrite(single, data, imagej=True, metadata={"axes": "TYX", "Overlays": rois[1].tobytes()})  # fmt: skip
    masks, _, names, _ = imagej_masks(single, SHAPE)
    assert names == ["cell-b"] and (masks[0] == _expected()[1]).all()


def test_roi_positions_that_the_import_does_not_follow_are_said(tmp_path):
    def at(roi, **pos):
        for k, v in pos.items():
            setattr(roi, k, v)
        return roi

    zip_path = tmp_path / "RoiSet.zip"
    same = [at(r, position=1) for r in _rois()]  # drawn on frame 1 (as SIMA's): nothing to say
    roifile.roiwrite(zip_path, same)
    assert imagej_masks(zip_path, SHAPE, n_frames=30)[3] == []
    moved = [at(_rois()[0], position=1), at(_rois()[1], position=7), at(_rois()[2], t_position=99)]  # fmt: skip
    roifile.roiwrite(zip_path, moved, mode="w")
    warnings = imagej_masks(zip_path, SHAPE, n_frames=30)[3]
    assert len(warnings) == 2, warnings
    assert "3 ROI(s) of RoiSet.zip are tied to different frames (1-99" in warnings[0]
    assert "measured on every frame" in warnings[0]
    assert "tied to frames past the movie's 30: cell-c (99)" in warnings[1]
    planes = [at(_rois()[0], z_position=1), at(_rois()[1], z_position=3), _rois()[2]]
    roifile.roiwrite(zip_path, planes, mode="w")  # Z positions are followed, not warned about
    assert imagej_masks(zip_path, SHAPE, n_frames=30)[3] == []


def test_rois_drawn_on_a_hyperstack_plane_are_measured_there_in_the_calcium_channel(
    tmp_path, capsys
):
    """A hyperstack ROI's Z position is followed (a cell of plane 2 is not in plane 0); a ROI
    without one uses --z-projection; its channel position is not followed (a cell outlined while
    the structural channel was shown still gets the calcium channel's trace), and is said; its
    time position is not followed (a ROI drawn on frame 5 is for the whole movie)."""
    rng = np.random.default_rng(5)
    data = rng.integers(0, 4000, (12, 3, 2, *SHAPE)).astype(np.uint16)  # T Z C Y X
    movie = tmp_path / "hyper.tif"
    tifffile.imwrite(movie, data, imagej=True, metadata={"axes": "TZCYX", "finterval": 0.1})
    a, b, c = _rois()
    a.z_position, a.c_position, a.t_position = 1, 2, 5  # plane 0, channel 1, drawn on frame 5
    b.z_position, b.c_position = 3, 1  # plane 2, channel 0
    b.left, b.right = 5, 9  # b now overlaps a in (y, x), on another plane
    roi_zip = tmp_path / "RoiSet.zip"
    roifile.roiwrite(roi_zip, [a, b, c])
    want = _expected()
    want[1] = np.zeros(SHAPE, bool)
    want[1][20:26, 5:9] = True
    res = read_imagej(roi_zip, movie, z_projection=1)  # c has no position: plane 1, channel 0
    for k, z in enumerate((0, 2, 1)):  # every ROI in channel 0, a's c position (1) too
        mean = data[:, z, 0][:, want[k]].astype(float).mean(axis=1)
        np.testing.assert_allclose(res.raw[k], mean, rtol=1e-12)
    assert "ROIs measured in the Z plane they were drawn on (plane 0: 1, plane 2: 1)" in res.notes
    said = " ".join(res.warnings)
    assert "1 ROI(s) of RoiSet.zip were drawn while another channel than the one measured" in said
    # a movie of one plane (an array: a napari layer) measures every ROI on it, and says so
    flat = read_imagej(roi_zip, data[:, 1, 0], fps=10.0)
    np.testing.assert_allclose(flat.raw[0], data[:, 1, 0][:, want[0]].mean(axis=1), rtol=1e-12)
    assert "drawn on Z planes 0-2 but the movie measured has no Z axis" in " ".join(flat.warnings)
    # the neuropil ring of a leaves out the ROIs of its own plane only
    a.left = b.left = 0
    b.top, b.bottom = 9, 14  # just below a, still within a's ring, but on plane 2
    c.z_position = 1  # on a's plane, close enough to be inside a's ring
    c.top, c.bottom = 0, 3
    roifile.roiwrite(roi_zip, [a, b, c], mode="w")
    from napari_catrack.core.sources.params import NeuropilParams

    res = read_imagej(roi_zip, movie, neuropil=NeuropilParams(neuropil_coefficient=1.0, min_neuropil_pixels=150))  # fmt: skip
    ring_a = _ring_of(res, data, 0, z=0, ch=0)
    assert ring_a[res.footprints[1] > 0].any()  # b's pixels: another plane, in a's ring
    assert not ring_a[res.footprints[2] > 0].any()  # c's: the same plane, left out
    # the CLI: a ROI on a plane the movie does not have is one line
    b.z_position = 4
    roifile.roiwrite(roi_zip, [a, b, c], mode="w")
    out = tmp_path / "o"
    assert main(["import", "imagej", str(roi_zip), "--movie", str(movie), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ROI cell-b of RoiSet.zip was drawn on Z plane 3 but the movie has 3 planes (0-2)" in err
    b.z_position = 2
    roifile.roiwrite(roi_zip, [a, b, c], mode="w")  # every ROI has a plane: no --z-projection
    assert main(["import", "imagej", str(roi_zip), "--movie", str(movie), "-o", str(out)]) == 0
    traces = read_sources(out).traces
    got = traces[traces["neuron_id"] == 2]["raw"].to_numpy()
    np.testing.assert_allclose(got, data[:, 1, 0][:, res.footprints[1] > 0].mean(axis=1), rtol=1e-6)


def test_rois_of_several_planes_are_measured_in_each_planes_movie_with_a_plane_column(tmp_path):
    """{plane: movie} (the Sources widget's single-plane layers): each ROI in its own plane's
    movie, a ROI without a Z position in the chosen plane, a ROI of a plane with no movie
    skipped and said (its trace in another plane would be another cell's); the components say
    the plane each ROI was measured in, as the CLI's import of a hyperstack file does."""
    rng = np.random.default_rng(7)
    data = rng.integers(0, 4000, (12, 3, *SHAPE)).astype(np.uint16)  # T Z Y X
    a, b, c = _rois()
    a.z_position, b.z_position, c.z_position = 2, 1, 3  # planes 1, 0, 2
    roi_zip = tmp_path / "RoiSet.zip"
    roifile.roiwrite(roi_zip, [a, b, c])
    want = _expected()
    planes = {0: data[:, 0], 1: data[:, 1]}  # plane 2 is not open
    res = read_imagej(roi_zip, planes, fps=10.0, z_projection=1)
    assert res.components["name"].tolist() == ["cell-a", "cell-b"]
    assert res.components["plane"].tolist() == [1, 0]
    for k, z in enumerate((1, 0)):
        np.testing.assert_allclose(res.raw[k], data[:, z][:, want[k]].mean(axis=1), rtol=1e-12)
    said = " ".join(res.warnings)
    assert "1 ROI(s) of RoiSet.zip were drawn on Z plane(s) 2, which no open movie shows (open: plane(s) 0, 1), and were skipped: cell-c" in said  # fmt: skip
    assert "ROIs measured in the Z plane they were drawn on (plane 0: 1, plane 1: 1)" in res.notes
    c.z_position = 0  # no Z position: the chosen plane (z_projection)
    roifile.roiwrite(roi_zip, [a, b, c], mode="w")
    res = read_imagej(roi_zip, planes, fps=10.0, z_projection=1)
    assert res.components["plane"].tolist() == [1, 0, 1] and not res.warnings
    np.testing.assert_allclose(res.raw[2], data[:, 1][:, want[2]].mean(axis=1), rtol=1e-12)
    for roi in (a, b, c):
        roi.z_position = 3
    roifile.roiwrite(roi_zip, [a, b, c], mode="w")
    with pytest.raises(InputError, match="none of the ROIs of RoiSet.zip was drawn on a Z plane open"):  # fmt: skip
        read_imagej(roi_zip, planes, fps=10.0, z_projection=1)
    # the CLI over the hyperstack file: the same plane column in components.csv
    movie = tmp_path / "hyper.tif"
    tifffile.imwrite(movie, data, imagej=True, metadata={"axes": "TZYX", "finterval": 0.1})
    a.z_position, b.z_position, c.z_position = 2, 1, 3
    roifile.roiwrite(roi_zip, [a, b, c], mode="w")
    assert main(["import", "imagej", str(roi_zip), "--movie", str(movie), "-o", str(tmp_path / "o")]) == 0  # fmt: skip
    assert read_sources(tmp_path / "o").components["plane"].tolist() == [1, 0, 2]


def _ring_of(res, data, k, *, z, ch):
    """The pixels of ROI k's neuropil ring, found back from its trace: Fneu = F - raw (c = 1) is
    the mean of the ring's pixels, so the ring is the pixel set whose mean matches: here the
    test rebuilds it with the same rule to check which pixels it holds."""
    from napari_catrack.core.sources.neuropil import neuropil_rings
    from napari_catrack.core.sources.params import NeuropilParams

    fp = np.asarray(res.footprints) > 0
    same = [j for j in range(len(fp)) if j != 1]  # a and c share plane 0
    rings = neuropil_rings([np.flatnonzero(fp[j]) for j in same], SHAPE, NeuropilParams(min_neuropil_pixels=150))  # fmt: skip
    ring = np.zeros(SHAPE, bool)
    ring.flat[rings[same.index(k)]] = True
    f = data[:, z, ch][:, fp[k]].astype(float).mean(axis=1)
    np.testing.assert_allclose(f - res.raw[k], data[:, z, ch][:, ring].mean(axis=1), rtol=1e-9)
    return ring


def test_rois_and_rings_are_pixel_lists_equal_to_full_frame_masks_and_cost_little_memory():
    """Masks and neuropil rings are flat pixel-index lists computed in each ROI's box: the same
    pixels as full-frame masks (ROIs clipped at every edge, polygons with negative coordinates),
    and 300 ROIs with rings on a 512 x 512 frame hold a few MB (full-frame masks and rings of
    them were 300 x 2 x 256 KiB = 150 MiB)."""
    import tracemalloc

    from skimage.draw import polygon2mask

    from napari_catrack.core.sources.neuropil import neuropil_masks, neuropil_rings
    from napari_catrack.core.sources.params import NeuropilParams
    from napari_catrack.io.imagej_rois import pixel_matrix, roi_pixels

    rois = [
        _polygon([[-3.5, -2], [6, -2], [6, 5.5], [-3.5, 5.5]], "corner"),  # off the top left
        _polygon([[44, 30], [55, 36], [47, 43]], "right"),  # off the right and bottom
        _box(roifile.ROI_TYPE.OVAL, 45, 35, 54, 44, "oval-corner"),
        _box(roifile.ROI_TYPE.RECT, -2, 36, 3, 45, "rect-bottom-left"),
        *_rois(),
    ]
    for roi in rois:  # ImageJ's pixel-centre rule over the whole frame, written out
        got = np.zeros(SHAPE, bool)
        got.flat[roi_pixels(roi, SHAPE)] = True
        if roi.roitype == roifile.ROI_TYPE.RECT:
            want = np.zeros(SHAPE, bool)
            want[max(roi.top, 0) : roi.bottom, max(roi.left, 0) : roi.right] = True
        elif roi.roitype == roifile.ROI_TYPE.OVAL:
            yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]] + 0.5
            cy, cx = (roi.top + roi.bottom) / 2, (roi.left + roi.right) / 2
            ry, rx = (roi.bottom - roi.top) / 2, (roi.right - roi.left) / 2
            want = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
        else:
            want = polygon2mask(SHAPE, np.asarray(roi.coordinates(), float)[:, ::-1] - 0.5)
        np.testing.assert_array_equal(got, want, err_msg=roi.name)
        assert got.any()
    pixels = [roi_pixels(r, SHAPE) for r in rois]
    masks = np.zeros((len(rois), SHAPE[0] * SHAPE[1]), bool)
    for k, px in enumerate(pixels):
        masks[k, px] = True
    masks = masks.reshape(len(rois), *SHAPE)
    p = NeuropilParams(min_neuropil_pixels=200)
    dense = neuropil_masks(masks, p)
    for k, ring in enumerate(neuropil_rings(pixels, SHAPE, p)):
        np.testing.assert_array_equal(ring, np.flatnonzero(dense[k]))
    # 300 ROIs on a 512 x 512 movie: masks, rings and their sparse matrix stay small
    big = (512, 512)
    rng = np.random.default_rng(1)
    many = [_box(roifile.ROI_TYPE.OVAL, int(x), int(y), int(x) + 9, int(y) + 9, f"c{i}")
            for i, (x, y) in enumerate(rng.integers(0, 500, (300, 2)))]  # fmt: skip
    tracemalloc.start()
    px = [roi_pixels(r, big) for r in many]
    rings = neuropil_rings(px, big, NeuropilParams())
    matrix = pixel_matrix(px + rings, big)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert matrix.shape == (600, 512 * 512) and all(r.size >= 350 for r in rings)
    assert peak < 20 * 2**20, peak / 2**20


def test_the_calcium_channel_of_a_hyperstack_is_chosen_with_channel(tmp_path, capsys):
    """`catrack import imagej --channel 1`: every ROI is measured in channel 1, the one drawn
    there says nothing, the one drawn on channel 0 is said."""
    rng = np.random.default_rng(6)
    data = rng.integers(0, 4000, (10, 2, *SHAPE)).astype(np.uint16)  # T C Y X
    movie = tmp_path / "two_channels.tif"
    tifffile.imwrite(movie, data, imagej=True, metadata={"axes": "TCYX", "finterval": 0.1})
    a, b, c = _rois()
    a.c_position, b.c_position = 2, 1  # drawn on channel 1 and on channel 0
    roi_zip = tmp_path / "RoiSet.zip"
    roifile.roiwrite(roi_zip, [a, b, c])
    out = tmp_path / "o"
    args = [
        "import",
        "imagej",
        str(roi_zip),
        "--movie",
        str(movie),
        "--channel",
        "1",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert (
        "1 ROI(s) of RoiSet.zip were drawn while another channel than the one measured (channel 1"
        in err
    )
    traces = read_sources(out).traces
    for k, mask in enumerate(_expected(), start=1):
        got = traces[traces["neuron_id"] == k]["raw"].to_numpy()
        np.testing.assert_allclose(got, data[:, 1][:, mask].mean(axis=1), rtol=1e-6)
    assert main(["import", "suite2p", str(tmp_path), "--channel", "1", "-o", str(out)]) == 2
    assert "--channel are for imagej ROIs" in capsys.readouterr().err
