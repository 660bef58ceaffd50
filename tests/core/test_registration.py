"""Motion correction: shifts against known motion, conventions, chunking, outputs, bad input."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_catrack.cli import main
from napari_catrack.core.registration import RegisterParams, register_movie, shift_error
from napari_catrack.core.registration.metrics import patch_shift_error
from napari_catrack.core.registration.rigid import correct_bidi, estimate_bidi_offset
from napari_catrack.errors import InputError
from napari_catrack.synthetic import make_two_photon_movie


@pytest.fixture(scope="module")
def moving():
    """A small movie with drift, jumps and a non-rigid warp (known per-pixel motion)."""
    return make_two_photon_movie(
        60, (96, 96), n_cells=14, seed=4, cell_brightness=(60, 120), drift_px_per_sqrt_s=0.5,
        jump_rate_hz=1.0, jump_px=3.0, nonrigid_px=2.0, nonrigid_tau_s=0.2,
    )  # fmt: skip


def _mean_truth(m):
    return np.array([m.truth.displacement(t).mean(axis=(1, 2)) for t in range(len(m.movie))])


def test_rigid_recovers_known_motion_with_the_contract_sign(moving):
    res = register_movie(moving.movie, RegisterParams(mode="rigid"))
    err = shift_error(res.shifts, _mean_truth(moving))
    assert err["median_px"] < 0.1
    # sign: content displaced by +d gets shift +d (a correlation near +1, not -1)
    assert np.corrcoef(res.shifts[:, 1], moving.truth.shifts[:, 1])[0, 1] > 0.99


@pytest.mark.slow
def test_piecewise_follows_the_non_rigid_field_better_than_rigid(moving):
    p = RegisterParams(mode="piecewise", patch_px=48, patch_overlap_px=24)
    res = register_movie(moving.movie, p)
    table = res.patch_table()
    assert list(table.columns) == ["frame", "patch", "y", "x", "dy", "dx"]
    assert len(table) == len(moving.movie) * len(res.patch_centres)
    iy = np.rint(res.patch_centres).astype(int)
    truth = np.stack([moving.truth.displacement(t)[:, iy[:, 0], iy[:, 1]].T for t in range(60)])
    patch_err = patch_shift_error(res.patch_shifts, truth)["median_px"]
    rigid = register_movie(moving.movie, RegisterParams(mode="rigid"))
    rigid_err = patch_shift_error(np.repeat(rigid.shifts[:, None], len(iy), 1), truth)["median_px"]
    assert patch_err < 0.3 and patch_err < 0.5 * rigid_err, (patch_err, rigid_err)
    # dy, dx in piecewise mode = rigid part + mean patch deviation
    from napari_catrack.core.registration.piecewise import FieldWarper, patch_grid

    warper = FieldWarper(patch_grid((96, 96), 48, 24))
    field_mean = np.stack([warper.field(ps).mean(axis=(1, 2)) for ps in res.patch_shifts])
    np.testing.assert_allclose(res.shifts, field_mean, atol=1e-4)
    assert res.metrics["crispness_registered"] > res.metrics["crispness_raw"]


def test_registered_movie_undoes_a_pure_translation():
    rng = np.random.default_rng(0)
    from scipy.ndimage import gaussian_filter, shift

    scene = gaussian_filter(rng.random((80, 80)), 1.0) * 1000
    truth = np.array([[0, 0], [2, -1], [-1.5, 3], [0.5, 0.25], [3, 3]] * 2, float)
    movie = np.stack([shift(scene, d, order=3, mode="nearest") for d in truth]).astype(np.float32)
    res = register_movie(movie, RegisterParams(mode="rigid"), keep_in_memory=True)
    assert shift_error(res.shifts, truth)["max_px"] < 0.1
    reg = res.movie[:, 10:-10, 10:-10]
    spread = reg.std(axis=0).mean() / movie[:, 10:-10, 10:-10].std(axis=0).mean()
    assert spread < 0.1  # frames now agree; before they did not


def test_chunking_does_not_change_the_result(moving):
    a = register_movie(moving.movie, RegisterParams(mode="rigid", chunk_frames=200))
    b = register_movie(moving.movie, RegisterParams(mode="rigid", chunk_frames=7))
    np.testing.assert_allclose(a.shifts, b.shifts, atol=1e-6)


def test_bidirectional_offset_is_found_and_corrected():
    rng = np.random.default_rng(1)
    from scipy.ndimage import gaussian_filter

    img = gaussian_filter(rng.random((128, 128)), 2.0).astype(np.float32)
    scanned = correct_bidi(img, -1.5)  # odd lines displaced by +1.5 px
    offset = estimate_bidi_offset(scanned)
    assert abs(offset - 1.5) < 0.15
    fixed = correct_bidi(scanned, offset)
    assert np.abs(fixed - img)[:, 8:-8].mean() < 0.3 * np.abs(scanned - img)[:, 8:-8].mean()


def _oblique_lines(angle_deg: float, seed: int = 1) -> np.ndarray:
    """Thin lines at `angle_deg` to the x axis (dendrites, oblique cell edges)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:256, :256].astype(float)
    a = np.deg2rad(angle_deg)
    img = np.zeros((256, 256))
    for _ in range(25):
        c = rng.uniform(0, 256, 2)
        img += 300 * np.exp(-(((yy - c[0]) * np.cos(a) - (xx - c[1]) * np.sin(a)) ** 2) / 2)
    return (gaussian_filter(img, 0.7) + 100).astype(np.float32)


def _odd_lines_moved(img: np.ndarray, offset: float) -> np.ndarray:
    from scipy.ndimage import shift

    out = img.copy()
    out[1::2] = shift(img[1::2], (0, offset), order=3, mode="nearest")
    return out


@pytest.mark.parametrize("angle", [30, 45, 60])
def test_bidirectional_offset_is_not_biased_by_oblique_structures(angle):
    """Odd and even lines are one row apart, so an edge at angle θ used to read as cot θ px of
    offset (review 8, finding 8: +0.55/+0.96/+1.65 px at 60/45/30° with no offset at all)."""
    img = _oblique_lines(angle)
    for offset in (0.0, 0.4, 1.0, -1.7):
        found = estimate_bidi_offset(_odd_lines_moved(img, offset))
        assert abs(found - offset) < 0.1, (angle, offset, found)


def test_bidirectional_offset_on_the_real_sima_image():
    """Known offsets put on the odd lines of the sima mean image are found to 0.1 px (its own
    offset, unknown, is measured first)."""
    from tests.conftest import shared_data

    mean = tifffile.imread(shared_data("sima", "example.tif")).astype(np.float32).mean(axis=0)
    own = estimate_bidi_offset(mean)
    assert abs(own) < 0.5
    for offset in (-2.2, -0.7, 0.3, 1.0, 1.5):
        found = estimate_bidi_offset(_odd_lines_moved(mean, offset)) - own
        assert abs(found - offset) < 0.1, (offset, found)


def test_outputs_tiff_and_zarr_with_input_shape_and_dtype(tmp_path, moving):
    from napari_catrack.io.frames import open_frames

    res = register_movie(moving.movie, RegisterParams(mode="rigid"), output=tmp_path / "r.tif",
                         keep_in_memory=True)  # fmt: skip
    back = tifffile.imread(tmp_path / "r.tif")
    assert back.shape == moving.movie.shape and back.dtype == moving.movie.dtype
    np.testing.assert_array_equal(back, res.movie)
    register_movie(moving.movie, RegisterParams(mode="rigid"), output=tmp_path / "r.zarr")
    with open_frames(tmp_path / "r.zarr") as src:
        np.testing.assert_array_equal(src.read(0, 60), back)
    with open_frames(tmp_path / "r.tif") as src:  # the plain-read path of big TIFFs
        np.testing.assert_array_equal(src.read(5, 9), back[5:9])


@pytest.mark.parametrize(
    "movie, params, message",
    [
        (np.ones((2, 32, 32)), RegisterParams(mode="rigid"), "too short"),
        (np.zeros((10, 32, 32)), RegisterParams(mode="rigid"), "constant"),
        (None, RegisterParams(mode="rigid"), "frame 4 contains"),
        (None, RegisterParams(mode="piecewise", patch_px=128), "do not fit"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, moving, movie, params, message):
    if movie is None:
        movie = moving.movie[:20].astype(np.float32)
        movie[4, 3, 3] = np.nan
    out = tmp_path / "out.tif"
    with pytest.raises(InputError, match=message):
        register_movie(movie, params, output=out)
    assert list(tmp_path.iterdir()) == []


def test_constant_frame_inside_a_movie_named_and_keepable(moving):
    movie = moving.movie[:30].copy()
    movie[12] = 7
    with pytest.raises(InputError, match="frame 12 is constant"):
        register_movie(movie, RegisterParams(mode="rigid"))
    res = register_movie(movie, RegisterParams(mode="rigid", bad_frames="keep"))
    assert list(res.bad_frames) == [12] and np.all(res.shifts[12] == 0)


def test_a_kept_nan_frame_is_left_out_of_the_metrics(tmp_path, moving, capsys):
    """--bad-frames keep with a NaN frame used to report `crispness nan -> nan` (review 8,
    item 13): the bad frame is left out of the mean images and the metrics, and the line says so."""
    movie = moving.movie[:30].astype(np.float32)
    movie[12] = np.nan
    res = register_movie(movie, RegisterParams(mode="rigid", bad_frames="keep"))
    m = res.metrics
    assert m["metrics_frames"] == 29 and list(res.bad_frames) == [12]
    for key in ("correlation_raw_median", "correlation_median", "crispness_raw", "crispness_registered"):  # fmt: skip
        assert np.isfinite(m[key]), key
    assert np.isfinite(res.mean_raw).all() and np.isfinite(res.mean_registered).all()
    rec = tmp_path / "nan.tif"
    tifffile.imwrite(rec, movie)
    assert main(["register", str(rec), "--mode", "rigid", "--bad-frames", "keep",
                 "-o", str(tmp_path / "r.tif"), "--shifts", str(tmp_path / "s.csv")]) == 0  # fmt: skip
    out, err = capsys.readouterr()  # the result line (stdout) gives the metrics
    assert not re.search(r"\bnan\b", (out + err).lower()) and "warning" not in err, err
    assert "1 bad frame (kept unshifted) left out of the metrics" in out, out


def test_metrics_are_not_fooled_by_resampling_a_short_noisy_movie(capsys):
    """On the 20-frame sima movie, crispness said registration made things worse (40791 ->
    35153) while the frames did line up (review 8, item 13): bilinear resampling smooths pixel
    noise, which dominated the unsmoothed metrics. Now both agree, and a half-pixel resampling
    that aligns nothing changes neither much; the summary line leads with the correlation."""
    from napari_catrack.core.registration.metrics import (
        crispness,
        frame_correlations,
        quality_line,
        smoothed,
    )
    from napari_catrack.core.registration.rigid import shift_frames
    from tests.conftest import shared_data

    movie = tifffile.imread(shared_data("sima", "example.tif")).astype(np.float32)
    res = register_movie(movie, RegisterParams(mode="rigid"))
    m = res.metrics
    assert m["correlation_median"] > m["correlation_raw_median"] + 0.02
    assert m["crispness_registered"] > m["crispness_raw"]
    null = shift_frames(movie, np.full((len(movie), 2), 0.5))  # resampled, aligned no better
    ref = smoothed(res.template)
    c_raw = np.median(frame_correlations(smoothed(movie), ref))
    c_null = np.median(frame_correlations(smoothed(null), ref))
    assert abs(c_null - c_raw) < 0.01
    assert crispness(smoothed(null.mean(axis=0))) < crispness(smoothed(movie.mean(axis=0)))
    assert quality_line(res.attrs()).startswith("median correlation with the template")


def test_cli_register_writes_the_contract_files(tmp_path, moving, capsys):
    rec = tmp_path / "movie.tif"
    tifffile.imwrite(rec, moving.movie)
    code = main(["register", str(rec), "--mode", "piecewise", "--patch-px", "48",
                 "-o", str(tmp_path / "reg.tif"), "--shifts", str(tmp_path / "shifts.csv"),
                 "--patch-shifts", str(tmp_path / "patches.csv")])  # fmt: skip
    assert code == 0
    shifts = pd.read_csv(tmp_path / "shifts.csv")
    assert list(shifts.columns) == ["frame", "dy", "dx"] and len(shifts) == 60
    assert shift_error(shifts[["dy", "dx"]].to_numpy(), _mean_truth(moving))["median_px"] < 0.3
    assert list(pd.read_csv(tmp_path / "patches.csv").columns)[:2] == ["frame", "patch"]
    code = main(["register", str(rec), "--patch-px", "500", "-o", str(tmp_path / "x.tif"),
                 "--shifts", str(tmp_path / "x.csv")])  # fmt: skip
    assert code == 2
    assert "do not fit" in capsys.readouterr().err
    assert not (tmp_path / "x.tif").exists() and not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("dtype", [np.uint16, np.float64])
def test_cli_register_keeps_the_frame_rate_and_pixel_size(tmp_path, moving, capsys, dtype):
    """`catrack info` on the registered movie shows the input's frame rate and pixel size, so
    summary/sources on it need no --fps again (review 8, item 13: both were null). uint16: an
    ImageJ description and resolution tags; float64 (no ImageJ type): tifffile's description."""
    import json

    from napari_catrack.io.frames import open_frames
    from napari_catrack.io.recording import open_recording
    from napari_catrack.io.tiff import write_movie_tiff

    rec = tmp_path / "movie.tif"
    movie = moving.movie[:12].astype(dtype)
    if dtype == np.uint16:
        write_movie_tiff(rec, movie, fps=30.0, pixel_size_um=0.8)
    else:  # the fps and pixel size a float64 movie could carry: given on the command line
        tifffile.imwrite(rec, movie, metadata={"axes": "TYX", "fps": 30.0, "pixel_size_um": 0.8})
    for name in ("reg.tif", "reg.zarr"):
        out = tmp_path / name
        assert main(["register", str(rec), "--mode", "rigid", "-o", str(out),
                     "--shifts", str(tmp_path / "s.csv")]) == 0  # fmt: skip
        rec_out = open_recording(out)
        assert (rec_out.fps, rec_out.pixel_size_um) == (30.0, 0.8), name
        assert rec_out.green.shape == movie.shape and rec_out.green.dtype == movie.dtype
        with open_frames(out) as src:  # the reader register/summary/sources use
            assert (src.fps, src.pixel_size_um) == (30.0, 0.8), name
        capsys.readouterr()
        assert main(["info", str(out)]) == 0
        info = json.loads(capsys.readouterr().out)
        assert (info["fps"], info["pixel_size_um"]) == (30.0, 0.8), name


def test_cli_register_never_writes_over_its_input(tmp_path, capsys):
    rec = tmp_path / "m.tif"
    tifffile.imwrite(rec, make_two_photon_movie(12, (32, 32), n_cells=3, seed=1).movie)
    before = rec.read_bytes()
    for outputs, message in (
        (["-o", str(tmp_path / "r.tif"), "--shifts", str(rec)], "--shifts .* overwrite the input REC"),
        (["-o", str(rec), "--shifts", str(tmp_path / "s.csv")], "-o .* overwrite the input REC"),
        (["-o", str(tmp_path / "r3.tif"), "--shifts", str(tmp_path / "r3.tif")], "the same file"),
    ):  # fmt: skip
        assert main(["register", str(rec), *outputs]) == 2
        assert re.search(message, capsys.readouterr().err)
    assert rec.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]


def test_quality_line_keeps_significant_digits_of_small_crispness():
    """A float movie scaled 0-1 has a crispness well under 1; the line printed "crispness of
    the mean 0 -> 0" (verify N6). Significant digits, whatever the scale."""
    from napari_catrack.core.registration.metrics import quality_line

    line = quality_line({"correlation_raw_median": 0.5, "correlation_median": 0.6,
                         "crispness_raw": 0.012345, "crispness_registered": 0.018765,
                         "residual_motion_median_px": 0.1})  # fmt: skip
    assert "crispness of the mean 0.01235 -> 0.01877 (raw -> registered)" in line
    big = quality_line({"crispness_raw": 40791.2, "crispness_registered": 35153.7})
    assert "crispness of the mean 40791 -> 35154 (raw" in big  # large ones: whole numbers


def test_cli_two_photon_steps_refuse_a_volume_until_a_plane_is_chosen(tmp_path, moving, capsys):
    """A TZYX file was max-projected over its planes unasked (mixing cells of different depths,
    each plane with its own motion): register/summary/sources refuse it in one line, writing
    nothing, until --z-projection picks a plane (or asks for a projection); the session's
    recording reference then opens the same plane."""
    from napari_catrack.session import Session

    plane0 = moving.movie[:12].astype(np.uint16)
    plane1 = np.ascontiguousarray(plane0[:, ::-1, :])  # another depth: other content
    rec = tmp_path / "volume.tif"
    tifffile.imwrite(rec, np.stack([plane0, plane1], axis=1), imagej=True,
                     metadata={"axes": "TZYX"})  # fmt: skip
    for cmd in (["register", str(rec), "--mode", "rigid", "-o", str(tmp_path / "r.tif"),
                 "--shifts", str(tmp_path / "s.csv")],
                ["summary", str(rec), "-o", str(tmp_path / "summary")],
                ["sources", str(rec), "--fps", "30", "-o", str(tmp_path / "sources")]):  # fmt: skip
        assert main(cmd) == 2, cmd[0]
        err = capsys.readouterr().err
        assert "has a Z axis (2 planes)" in err and "--z-projection N (0-1)" in err, err
        assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["volume.tif"]
    session = tmp_path / "volume.catrack.h5"
    assert main(["register", str(rec), "--mode", "rigid", "--z-projection", "1",
                 "-o", str(tmp_path / "r.tif"), "--shifts", str(tmp_path / "s.csv"),
                 "--session", str(session)]) == 0  # fmt: skip
    direct = register_movie(plane1, RegisterParams(mode="rigid"))
    np.testing.assert_allclose(pd.read_csv(tmp_path / "s.csv")[["dy", "dx"]], direct.shifts)
    ref = Session.load(session).recording
    assert ref["options"]["z_projection"] == 1 and "plane 1 only" in ref["summary"]["z"]


def test_a_kept_nan_frame_does_not_stop_summary_and_sources(tmp_path, moving, capsys):
    """`--bad-frames keep` wrote the NaN frame as it was, and summary and sources then refused
    the registered movie: a dead end the docs led to. Its NaN pixels are written as the
    template's (its finite pixels kept unshifted), so the later steps read the movie."""
    from napari_catrack.core.summary import summary_images

    movie = moving.movie[:30].astype(np.float32)
    movie[12, :10] = np.nan  # a partly dropped frame
    params = RegisterParams(mode="rigid", bad_frames="keep", chunk_frames=10)  # 2 clean chunks
    res = register_movie(movie, params, keep_in_memory=True)
    assert np.isfinite(res.movie).all()
    assert np.isfinite(np.delete(res.correlation, 12)).all()  # every good frame's metrics
    np.testing.assert_array_equal(res.movie[12, :10], res.template[:10])
    np.testing.assert_array_equal(res.movie[12, 10:], movie[12, 10:])  # unshifted
    assert np.isfinite(summary_images(res.movie).as_dict()["correlation"]).all()
    bad = movie.copy()
    bad[[3, 7]] = np.nan  # and frame 12, partly
    rec = tmp_path / "nan.tif"
    tifffile.imwrite(rec, bad)
    assert main(["sources", str(rec), "--fps", "30", "-o", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "frame 3 (and 1 more) has no finite pixel" in err and "--bad-frames keep" in err


@pytest.mark.parametrize("size", [64, 20, 12])
def test_the_patch_size_hint_runs_as_given(tmp_path, moving, capsys, size):
    """A patch size larger than the frame said "use --patch-px 64 or less"; doing that
    (--patch-px 64, or 20) failed again on the 32 px default overlap. The hint now names
    options that run (or rigid mode where no patch fits), and the overlap error says which.
    (The default 96 px patches now shrink to fit: test_small_frames_get_smaller_patches.)"""
    rec = tmp_path / "m.tif"
    tifffile.imwrite(rec, moving.movie[:12, :size, :size])
    out = ["-o", str(tmp_path / "r.tif"), "--shifts", str(tmp_path / "s.csv")]
    big = max(size + 16, 48)  # above the frame, and above the 32 px default overlap
    assert main(["register", str(rec), "--patch-px", str(big), *out]) == 2
    err = capsys.readouterr().err
    assert f"patches of {big} px do not fit" in err, err
    hint = re.search(r"e\.g\. (--patch-px \d+ --patch-overlap-px \d+)", err)
    if size < 16:
        assert hint is None and "use --mode rigid" in err, err
        assert main(["register", str(rec), *out]) == 2  # the default: no patch fits either
        assert "use --mode rigid" in capsys.readouterr().err
        assert main(["register", str(rec), "--mode", "rigid", *out]) == 0
        return
    assert hint, err
    if size <= 32:  # the old hint's --patch-px SIZE: the default 32 px overlap does not fit
        assert main(["register", str(rec), "--patch-px", str(size), *out]) == 2
        assert "must be smaller than the patch size" in capsys.readouterr().err
    assert main(["register", str(rec), *hint.group(1).split(), *out]) == 0


def test_small_frames_get_smaller_patches(tmp_path, moving, capsys):
    """Frames under 96 px needed --patch-px by hand (the default 96 px patches did not fit a
    64 x 64 frame). The default now becomes half the smaller side with a third of it as
    overlap, said in one line and recorded beside the parameters asked for (those are what
    `--params-from` reuses: a small movie's fitted patches must not reach a large one); a given
    size is kept."""
    from napari_catrack.session import Session

    small = moving.movie[:, 16:80, 16:80]  # 64 x 64, its non-rigid motion known
    res = register_movie(small, RegisterParams())
    assert res.params == RegisterParams()  # what was asked for
    assert (res.metrics["patch_px_used"], res.metrics["patch_overlap_px_used"]) == (32, 10)
    assert len(res.patch_centres) == 9  # 3 x 3 patches of 32 px at a stride of 22
    assert "default 96 px patches do not fit the 64x64 frame: 32 px patches" in res.notes[0]
    iy = np.rint(res.patch_centres).astype(int) + 16
    truth = np.stack([moving.truth.displacement(t)[:, iy[:, 0], iy[:, 1]].T for t in range(60)])
    assert patch_shift_error(res.patch_shifts, truth)["median_px"] < 0.3
    given = register_movie(small[:12], RegisterParams(patch_px=48, patch_overlap_px=16))
    assert (given.params.patch_px, given.params.patch_overlap_px) == (48, 16) and not given.notes
    assert "patch_px_used" not in given.metrics
    overlap = register_movie(small[:12], RegisterParams(patch_overlap_px=8))
    assert (overlap.metrics["patch_px_used"], overlap.metrics["patch_overlap_px_used"]) == (32, 8)
    with pytest.raises(InputError, match="patches of 80 px do not fit in the 64x64 frame"):
        register_movie(small[:12], RegisterParams(patch_px=80))
    rec = tmp_path / "m.tif"
    tifffile.imwrite(rec, small[:12])
    session = tmp_path / "m.catrack.h5"
    assert main(["register", str(rec), "-o", str(tmp_path / "r.tif"), "--shifts", str(tmp_path / "s.csv"),
                 "--metrics", str(tmp_path / "q.json"), "--session", str(session)]) == 0  # fmt: skip
    assert "warning: the default 96 px patches do not fit" in capsys.readouterr().err
    import json

    metrics = json.loads((tmp_path / "q.json").read_text())
    assert metrics["params"]["patch_px"] is None and metrics["patch_px_used"] == 32  # automatic
    step = Session.load(session)["registration"]
    assert step.params["patch_px"] is None and step.attrs["patch_px_used"] == 32
    assert step.params["patch_px_auto"] is True
    # a large movie run with this session's parameters keeps the default 96 px patches
    big = tmp_path / "big.tif"
    tifffile.imwrite(big, moving.movie[:12])
    assert main(["register", str(big), "-o", str(tmp_path / "b.tif"), "--shifts", str(tmp_path / "bs.csv"), "--params-from", str(session),
                 "--session", str(tmp_path / "b.catrack.h5")]) == 0  # fmt: skip
    assert "patch_px" not in capsys.readouterr().err
    big_step = Session.load(tmp_path / "b.catrack.h5")["registration"]
    assert big_step.params["patch_px"] is None and big_step.attrs["patch_px_used"] == 96


def test_a_given_96_px_patch_is_kept_and_old_sessions_mean_what_they_meant(tmp_path, moving, capsys):  # fmt: skip
    """`--patch-px 96` given on a small frame could not be told from the default (both 96): it
    was shrunk. The default is now automatic (None), so a given 96 is used as given (refused on a
    64 x 64 frame, with values that fit); a session written before (patch_px 96, no
    `patch_px_auto` mark) meant the automatic size, and `--params-from` reads it so."""
    from napari_catrack.batch.from_session import read_session_params
    from napari_catrack.core.registration.params import recorded_values
    from napari_catrack.session import Session

    small = moving.movie[:12, 16:80, 16:80]
    with pytest.raises(InputError, match="patches of 96 px do not fit in the 64x64 frame"):
        register_movie(small, RegisterParams(patch_px=96))
    rec = tmp_path / "small.tif"
    tifffile.imwrite(rec, small)
    out = ["-o", str(tmp_path / "r.tif"), "--shifts", str(tmp_path / "s.csv")]
    assert main(["register", str(rec), *out, "--patch-px", "96"]) == 2
    assert "patches of 96 px do not fit in the 64x64 frame" in capsys.readouterr().err
    big = tmp_path / "big.tif"
    tifffile.imwrite(big, moving.movie[:12])
    given = tmp_path / "given.catrack.h5"
    assert main(["register", str(big), *out, "--patch-px", "96", "--session", str(given)]) == 0
    step = Session.load(given)["registration"]
    assert step.params["patch_px"] == 96 and step.params["patch_px_auto"] is False
    assert read_session_params(given, ["register"]).values == {"register": {"patch_px": 96}}
    capsys.readouterr()
    # --params-from a session with a given 96: the small movie is refused as with the option
    assert main(["register", str(rec), *out, "--params-from", str(given)]) == 2
    assert "patches of 96 px do not fit" in capsys.readouterr().err
    # a session written before: its 96 was the default, the automatic size
    old = tmp_path / "old.catrack.h5"
    session = Session(old, autosave=False)
    stored = RegisterParams().to_dict()
    session.record("registration", params={**stored, "patch_px": 96})
    session.save()
    assert recorded_values(Session.load(old)["registration"].params)["patch_px"] is None
    assert read_session_params(old, ["register"]).values == {}  # the defaults: nothing taken
    again = tmp_path / "again.catrack.h5"
    assert main(["register", str(rec), *out, "--params-from", str(old), "--session", str(again)]) == 0  # fmt: skip
    assert "the default 96 px patches do not fit the 64x64 frame" in capsys.readouterr().err
    assert Session.load(again)["registration"].attrs["patch_px_used"] == 32
    # `auto` on the command line wins over a session's given size
    assert main(["register", str(rec), *out, "--params-from", str(given), "--patch-px", "auto"]) == 0  # fmt: skip


def test_the_automatic_patch_size_keeps_a_finished_batchs_step_key():
    """Batch step keys hash the automatic size as the 96 stored before (a finished batch stays
    up to date); a given 96 hashes apart from it."""
    auto, given = RegisterParams().key_dict(), RegisterParams(patch_px=96).key_dict()
    assert auto == {**RegisterParams().to_dict(), "patch_px": 96}
    assert given != auto and given["patch_px"] == 96


def test_a_given_fps_that_contradicts_the_file_is_said(tmp_path, moving, capsys):
    """`--fps 10` on a movie that states 30 Hz retimed the registered movie (and sources' time
    bins, baselines and deconvolution) without a word; it is used, and a warning says so."""
    from napari_catrack.io.recording import open_recording
    from napari_catrack.io.tiff import write_movie_tiff

    rec = tmp_path / "movie.tif"
    write_movie_tiff(rec, moving.movie[:12], fps=30.0)
    out = ["--mode", "rigid", "-o", str(tmp_path / "r.tif"), "--shifts", str(tmp_path / "s.csv")]
    assert main(["register", str(rec), "--fps", "10", *out]) == 0
    err = capsys.readouterr().err
    assert "warning: --fps 10 differs from the 30 Hz the file states: 10 Hz is used" in err, err
    assert open_recording(tmp_path / "r.tif").fps == 10.0
    assert main(["register", str(rec), "--fps", "30", *out]) == 0
    assert "warning" not in capsys.readouterr().err


def test_residual_motion_of_a_short_movie_is_measured_on_enough_frames(moving):
    """Residual motion was re-measured on every 10th frame: 2 frames of a 20-frame movie (the
    SIMA example), whose deviations from their median are equal, so p95 == median always. A
    short movie now has 20 frames (or all) measured; a long one still every 10th."""
    for frames, measured in ((20, 20), (60, 20), (12, 12)):
        res = register_movie(moving.movie[:frames], RegisterParams(mode="rigid"))
        assert res.metrics["residual_motion_frames"] == measured, frames
    assert res.metrics["residual_motion_p95_px"] >= res.metrics["residual_motion_median_px"]
    long = register_movie(np.concatenate([moving.movie] * 5), RegisterParams(mode="rigid"))
    assert long.metrics["residual_motion_frames"] == 30  # 300 frames: every 10th


def test_channel_picks_the_channel_to_register(tmp_path, moving, capsys):
    """`--channel 1` of a two-channel file failed ("green and red channel indices (1, 1) name
    the same channel": the option picked green from a channel-axis layout whose red defaults
    to 1), so only channel 0 could be registered. Channel 1 (the one with the cells and their
    motion; channel 0 is static noise) is registered, and the channel is recorded."""
    import json

    from napari_catrack.session import Session

    movie = moving.movie[:20]
    static = np.random.default_rng(1).poisson(100, movie.shape).astype(movie.dtype)
    rec = tmp_path / "two.tif"
    tifffile.imwrite(rec, np.stack([static, movie], axis=1), imagej=True, metadata={"axes": "TCYX"})
    session = tmp_path / "two.catrack.h5"
    out = ["--mode", "rigid", "-o", str(tmp_path / "r.tif"), "--shifts", str(tmp_path / "s.csv")]
    assert main(["register", str(rec), "--channel", "1", *out, "--metrics", str(tmp_path / "q.json"),
                 "--session", str(session)]) == 0, capsys.readouterr().err  # fmt: skip
    shifts = pd.read_csv(tmp_path / "s.csv")[["dy", "dx"]].to_numpy()
    assert shift_error(shifts, _mean_truth(moving)[:20])["median_px"] < 0.1
    np.testing.assert_allclose(shifts, register_movie(movie, RegisterParams(mode="rigid")).shifts)
    assert tifffile.imread(tmp_path / "r.tif").shape == movie.shape  # one channel, registered
    step = Session.load(session)["registration"]
    assert step.attrs["movie_options"] == {"channel": 1}
    assert Session.load(session).recording["options"]["green_channel"] == 1
    assert json.loads((tmp_path / "q.json").read_text())["movie_options"] == {"channel": 1}
    # channel 0 (the default) has no structure to follow: its shifts are not the motion
    assert main(["register", str(rec), *out]) == 0
    static_shifts = pd.read_csv(tmp_path / "s.csv")[["dy", "dx"]].to_numpy()
    assert shift_error(static_shifts, _mean_truth(moving)[:20])["median_px"] > 0.5
    # summary and sources read the channel the same way
    assert main(["summary", str(rec), "--channel", "1", "-o", str(tmp_path / "sum")]) == 0
    np.testing.assert_allclose(
        tifffile.imread(tmp_path / "sum" / "mean.tif"), movie.mean(axis=0), rtol=1e-5
    )
    assert main(["summary", str(rec), "--channel", "2", "-o", str(tmp_path / "x")]) == 2
    assert "channel 2 does not exist: the data has 2 channel(s)" in capsys.readouterr().err
