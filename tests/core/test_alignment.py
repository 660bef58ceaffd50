"""Channel alignment: the transform convention, its persistence, warping, and the estimator.

Ground truth comes from transforms we apply ourselves (scipy) and from `make_worm_recording`, whose
`truth.misalignment` maps red onto green in the ARCHITECTURE.md convention.
"""

from __future__ import annotations

import json
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage

from napari_catrack.core.alignment import (
    AlignmentTransform,
    estimate_alignment,
    iter_estimate_alignment,
    sample_red_at,
    summary_image,
)
from napari_catrack.errors import InputError

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def blobs(shape=(160, 176), n=60, seed=0, sigma=1.8) -> np.ndarray:
    """Neuron-like Gaussian blobs plus a soft body: structure to align."""
    rng = np.random.default_rng(seed)
    img = np.zeros(shape, np.float32)
    ys = rng.uniform(0.15, 0.85, n) * shape[0]
    xs = rng.uniform(0.15, 0.85, n) * shape[1]
    img[ys.astype(int), xs.astype(int)] = rng.uniform(0.5, 1.5, n)
    img = ndimage.gaussian_filter(img, sigma) * 2 * np.pi * sigma**2
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    body = np.exp(
        -(((yy - shape[0] / 2) / (0.3 * shape[0])) ** 2 + ((xx - shape[1] / 2) / 50) ** 2)
    )
    return img + 0.2 * body.astype(np.float32)


def make_red(green_scene: np.ndarray, t: AlignmentTransform) -> np.ndarray:
    """The red image whose pixels land on `green_scene` under `t` (red(p) = green(M p))."""
    m = t.matrix(green_scene.shape)
    return ndimage.affine_transform(green_scene, m[:2, :2], offset=m[:2, 2], order=3)


# -- convention -------------------------------------------------------------------------------------
def test_positive_rotation_is_counter_clockwise_on_screen():
    shape = (101, 201)
    c = np.array([50.0, 100.0])
    t = AlignmentTransform(0, 0, 90)
    # a point right of the centre goes UP on screen (smaller y) for a CCW turn with y down
    right, up, down = np.array([0.0, 10.0]), np.array([-10.0, 0.0]), np.array([10.0, 0.0])
    np.testing.assert_allclose(t.map_points(c + right, shape), c + up, atol=1e-12)
    # and a point below the centre goes right
    np.testing.assert_allclose(t.map_points(c + down, shape), c + right, atol=1e-12)


def test_matrix_is_the_architecture_formula():
    shape = (64, 80)
    t = AlignmentTransform(2.5, -1.25, 7.0)
    th = np.deg2rad(7.0)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    c = np.array([31.5, 39.5])
    p = np.array([[3.0, 70.0], [50.0, 2.0]])
    expected = (p - c) @ rot.T + c + [2.5, -1.25]
    np.testing.assert_allclose(t.map_points(p, shape), expected, atol=1e-12)
    np.testing.assert_allclose(t.map_points(expected, shape, inverse=True), p, atol=1e-9)
    np.testing.assert_allclose(t.inverse_matrix(shape) @ t.matrix(shape), np.eye(3), atol=1e-12)


def test_matrix_matches_the_synthetic_generator():
    synthetic = pytest.importorskip("napari_catrack.synthetic")
    m = {"dy": 1.5, "dx": -4.0, "rotation_deg": -2.3}
    rot, tvec = synthetic.misalignment_matrix(m, (90, 120))
    mat = AlignmentTransform(**m).matrix((90, 120))
    np.testing.assert_allclose(mat[:2, :2], rot, atol=1e-12)
    np.testing.assert_allclose(mat[:2, 2], tvec, atol=1e-12)


def test_napari_affine_embeds_for_stacks_and_from_matrix_inverts():
    t = AlignmentTransform(3.0, -2.0, 1.5, 1.01, "manual")
    a2 = t.napari_affine((50, 60))
    a3 = t.napari_affine((50, 60), ndim=3)
    assert a3.shape == (4, 4)
    np.testing.assert_allclose(a3[1:, 1:], a2)
    np.testing.assert_allclose(a3[0], [1, 0, 0, 0])
    back = AlignmentTransform.from_matrix(a3, (50, 60))
    assert back == t
    with pytest.raises(InputError):
        AlignmentTransform.from_matrix(np.diag([1.0, -1.0, 1.0]), (50, 60))  # a mirror


def test_warp_frame_puts_a_red_blob_where_map_points_says():
    shape = (70, 90)
    t = AlignmentTransform(4.3, -6.2, 12.0)
    red = np.zeros(shape, np.float32)
    p = np.array([20.0, 65.0])
    red[20, 65] = 1.0
    red = ndimage.gaussian_filter(red, 2.0)
    warped = t.warp_frame(red)
    assert warped.dtype == np.float32 and warped.shape == shape
    com = np.array(ndimage.center_of_mass(warped))
    np.testing.assert_allclose(com, t.map_points(p, shape), atol=0.05)


def test_lazy_warp_stack_equals_eager_warp_frame():
    rng = np.random.default_rng(1)
    stack = rng.random((7, 40, 48)).astype(np.float32)
    lazy_in = da.from_array(stack, chunks=(3, 20, 48))
    t = AlignmentTransform(1.7, -0.6, 2.0)
    lazy = t.warp_stack(lazy_in)
    assert isinstance(lazy, da.Array)
    assert lazy.chunks[0] == (3, 3, 1)  # frame chunks kept, whole frames per block
    eager = np.stack([t.warp_frame(f) for f in stack])
    np.testing.assert_array_equal(lazy.compute(), eager)
    np.testing.assert_array_equal(lazy[5].compute(), eager[5])


def test_sample_red_at_equals_the_warped_frame():
    rng = np.random.default_rng(2)
    red = ndimage.gaussian_filter(rng.random((50, 60)), 2).astype(np.float32)
    t = AlignmentTransform(-2.2, 3.1, -4.0)
    yx = np.array([[25.0, 30.0], [10.0, 12.0], [40.0, 51.0]])
    values = sample_red_at(red, yx, t)
    warped = t.warp_frame(red)
    np.testing.assert_allclose(
        values, warped[yx[:, 0].astype(int), yx[:, 1].astype(int)], atol=1e-5
    )
    assert np.isnan(sample_red_at(red, np.array([[-30.0, -30.0]]), t)[0])


# -- persistence ------------------------------------------------------------------------------------
def test_json_round_trip(tmp_path):
    t = AlignmentTransform(1.25, -3.5, 0.75, 1.002, "manual", info={"ncc": np.float32(0.9)})
    path = t.save_json(tmp_path / "align.json")
    data = json.loads(path.read_text())
    assert {"dy", "dx", "rotation_deg"} <= set(data)
    assert data["dy"] == 1.25 and data["provenance"]["ncc"] == pytest.approx(0.9)
    back = AlignmentTransform.load_json(path)
    assert (back.dy, back.dx, back.rotation_deg, back.scale) == (1.25, -3.5, 0.75, 1.002)
    assert back.source == "file"
    assert AlignmentTransform.from_dict(t.to_dict()) == t
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[1, 2, 3]",
        '{"dy": 1, "dx": 2}',
        '{"dy": "a lot", "dx": 0, "rotation_deg": 0}',
        '{"dy": NaN, "dx": 0, "rotation_deg": 0}',
        '{"dy": 0, "dx": 0, "rotation_deg": 0, "scale": -1}',
        '{"dy": true, "dx": 0, "rotation_deg": 0}',
    ],
)
def test_malformed_json_is_an_input_error(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError, match="alignment"):
        AlignmentTransform.load_json(path)


def test_missing_json_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        AlignmentTransform.load_json(tmp_path / "nope.json")


# -- estimation -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "truth",
    [
        AlignmentTransform(3.4, -7.8, 2.5),  # CCW
        AlignmentTransform(-8.6, 5.15, -1.7),  # CW
        AlignmentTransform(0.37, 0.61, 0.0),
    ],
)
def test_estimate_recovers_known_transform_from_images(truth):
    scene = blobs()
    rng = np.random.default_rng(3)
    # different gain, offset and noise per channel: the estimate must not care
    green = 0.4 * scene + rng.normal(0, 0.01, scene.shape)
    red = 5.0 * make_red(scene, truth) + 100 + rng.normal(0, 0.05, scene.shape)
    est = estimate_alignment(green, red)
    assert est.source == "estimated"
    assert abs(est.dy - truth.dy) < 0.05 and abs(est.dx - truth.dx) < 0.05
    assert abs(est.rotation_deg - truth.rotation_deg) < 0.05
    assert np.sign(est.rotation_deg) == np.sign(truth.rotation_deg) or truth.rotation_deg == 0


def test_estimate_scale():
    truth = AlignmentTransform(1.5, -2.0, 1.0, 1.015)
    scene = blobs(seed=4)
    red = make_red(scene, truth)
    est = estimate_alignment(scene, red, estimate_scale=True)
    assert est.scale == pytest.approx(1.015, abs=0.002)
    assert abs(est.dy - 1.5) < 0.1 and abs(est.dx + 2.0) < 0.1
    assert estimate_alignment(scene, make_red(scene, AlignmentTransform(1, 1, 0))).scale == 1.0


def test_estimate_on_moving_worm_with_bleaching():
    synthetic = pytest.importorskip("napari_catrack.synthetic")
    truth = {"dy": -4.2, "dx": 6.7, "rotation_deg": 1.8}  # CCW
    rec = synthetic.make_worm_recording(
        n_frames=60, shape=(192, 192), n_neurons=25, seed=3, misalignment=truth,
        bleach_tau_green_s=20.0, bleach_tau_red_s=60.0,
    )  # fmt: skip
    steps = []
    est = estimate_alignment(
        da.from_array(rec.green, chunks=(16, -1, -1)),
        rec.red,
        progress=lambda f, m: steps.append(f),
    )
    assert steps[0] == 0.0 and steps[-1] == 1.0 and steps == sorted(steps)
    assert abs(est.dy - truth["dy"]) < 0.15 and abs(est.dx - truth["dx"]) < 0.15
    assert est.rotation_deg > 0
    assert abs(est.rotation_deg - truth["rotation_deg"]) < 0.15
    # where it matters: neuron positions land within a fraction of a pixel
    red_pts = rec.truth.red_positions[::10].reshape(-1, 2)
    green_pts = rec.truth.positions[::10].reshape(-1, 2)
    err = np.linalg.norm(est.map_points(red_pts, (192, 192)) - green_pts, axis=1)
    assert err.max() < 0.2
    assert est.info["n_refine_frames"] > 1


def test_iter_estimate_yields_progress_and_returns_transform():
    scene = blobs(seed=5)
    gen = iter_estimate_alignment(scene, make_red(scene, AlignmentTransform(2, 3, 0.5)))
    fractions = []
    with pytest.raises(StopIteration) as stop:
        while True:
            fractions.append(next(gen)[0])
    assert fractions[-1] == 1.0
    assert isinstance(stop.value.value, AlignmentTransform)


def test_summary_ignores_bleaching():
    scene = blobs(seed=6)
    decay = np.exp(-np.arange(20) / 5.0)[:, None, None]
    stack = (scene[None] * decay * 1000).astype(np.float32)
    for projection in ("mean", "max", "median", "percentile"):
        s = summary_image(stack, projection=projection)
        np.testing.assert_allclose(s / s.mean(), scene / scene.mean(), rtol=1e-4, atol=1e-5)


def test_bad_input_is_an_input_error():
    scene = blobs()
    with pytest.raises(InputError, match="red channel is missing"):
        estimate_alignment(scene, None)
    with pytest.raises(InputError, match="differ in size"):
        estimate_alignment(scene, scene[:, :-4])
    with pytest.raises(InputError, match="differ in length"):
        estimate_alignment(np.stack([scene] * 3), np.stack([scene] * 2))
    with pytest.raises(InputError, match="blank"):
        estimate_alignment(scene, np.zeros_like(scene))
    with pytest.raises(InputError, match="blank"):
        estimate_alignment(np.zeros((4, 64, 64), np.uint16), np.zeros((4, 64, 64), np.uint16))
    with pytest.raises(InputError, match="projection"):
        estimate_alignment(scene, scene, projection="sum")
    with pytest.raises(InputError, match=r"\(T, Y, X\)"):
        estimate_alignment(np.zeros((2, 2, 32, 32)), np.zeros((2, 2, 32, 32)))


def test_real_two_channel_volume_with_known_extra_transform():
    """targettrack's red/green head volume: the channels come registered, so a transform we add
    to red must come back (cross-channel structure differs, as in real recordings)."""
    path = SHARED_DATA / "worm" / "targettrack" / "data_points" / "ex2" / "frame_gt.npy"
    if not path.exists():
        pytest.skip(f"real data not found: ../shared/data/worm/targettrack (looked at {path})")
    vol = np.load(path).astype(np.float32)  # (C, X, Y, Z)
    red0, green = (vol[c].max(axis=2).T for c in (0, 1))  # max over Z -> (Y, X)
    base = estimate_alignment(green, red0)  # the native offset (should be ~0)
    truth = AlignmentTransform(2.6, -3.3, 1.2)
    red = make_red(red0, truth)
    est = estimate_alignment(green, red)
    # the added transform composes with the native one
    expected = truth.matrix(green.shape) @ base.matrix(green.shape)
    got = est.matrix(green.shape)
    corners = np.array([[20.0, 40.0], [140.0, 220.0], [20.0, 220.0], [140.0, 40.0], [80.0, 128.0]])
    h = np.c_[corners, np.ones(len(corners))]
    err = np.linalg.norm((h @ got.T - h @ expected.T)[:, :2], axis=1)
    assert err.max() < 0.3


# -- CLI --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def worm_pair():
    synthetic = pytest.importorskip("napari_catrack.synthetic")
    truth = {"dy": 3.3, "dx": -5.4, "rotation_deg": -1.2}
    rec = synthetic.make_worm_recording(
        n_frames=30, shape=(160, 160), n_neurons=20, seed=8, misalignment=truth
    )
    return rec.green, rec.red, truth


def test_cli_align_writes_the_contract_json(tmp_path, worm_pair):
    from napari_catrack.cli import main
    from napari_catrack.io.tiff import write_movie_tiff

    green, red, truth = worm_pair
    movie = write_movie_tiff(tmp_path / "rec.tif", green, red, fps=10.0)
    before = movie.read_bytes()
    out = tmp_path / "align.json"
    assert main(["align", str(movie), "--frames", "30", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert abs(data["dy"] - truth["dy"]) < 0.15 and abs(data["dx"] - truth["dx"]) < 0.15
    assert abs(data["rotation_deg"] - truth["rotation_deg"]) < 0.15
    assert data["source"] == "estimated" and data["provenance"]["n_frames"] == 30
    assert movie.read_bytes() == before  # the input is never touched
    # channels given the other way round: the inverse transform comes out
    swapped = tmp_path / "swapped.json"
    args = ["align", str(movie), "--green-channel", "1", "--red-channel", "0", "-o", str(swapped)]
    assert main(args) == 0
    inv = AlignmentTransform.load_json(swapped)
    fwd = AlignmentTransform.load_json(out)
    np.testing.assert_allclose(
        inv.matrix((160, 160)) @ fwd.matrix((160, 160)), np.eye(3), atol=0.02
    )


def test_cli_align_side_by_side_split(tmp_path, worm_pair):
    import tifffile

    from napari_catrack.cli import main

    green, red, truth = worm_pair
    movie = tmp_path / "split.tif"
    tifffile.imwrite(
        movie, np.concatenate([green, red], axis=2), imagej=True, metadata={"axes": "TYX"}
    )
    out = tmp_path / "align.json"
    assert main(["align", str(movie), "--split", "left-right", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert abs(data["dx"] - truth["dx"]) < 0.15 and abs(data["rotation_deg"] + 1.2) < 0.15


def test_cli_align_warns_when_red_and_green_do_not_match(tmp_path, worm_pair, capsys):
    """A single-channel movie read with --split left-right (the wrong layout): its halves are
    unrelated, the estimate scores NCC ~0.05 and is written, but never without a warning."""
    import tifffile

    from napari_catrack.cli import main
    from napari_catrack.core.alignment import POOR_MATCH_NCC

    green, red, _ = worm_pair
    pair = tmp_path / "pair.tif"
    tifffile.imwrite(pair, np.concatenate([green, red], axis=2), imagej=True,
                     metadata={"axes": "TYX"})  # fmt: skip
    assert main(["align", str(pair), "--split", "left-right", "-o", str(tmp_path / "a.json")]) == 0
    assert "warning" not in capsys.readouterr().err
    single = tmp_path / "single.tif"
    tifffile.imwrite(single, green, imagej=True, metadata={"axes": "TYX"})
    out = tmp_path / "b.json"
    assert main(["align", str(single), "--split", "left-right", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    ncc = json.loads(out.read_text())["provenance"]["ncc"]
    assert ncc < POOR_MATCH_NCC
    assert f"catrack align: warning: the alignment scores NCC {ncc:.3f}" in err, err
    assert "0.65-0.94" in err and "--layout/--split" in err


def test_poor_match_warning_threshold():
    from napari_catrack.core.alignment import POOR_MATCH_NCC, poor_match_warning

    def t(ncc):
        return AlignmentTransform(0.0, 0.0, 0.0, info={} if ncc is None else {"ncc": ncc})

    assert poor_match_warning(t(None)) is None  # loaded from a file: no score, no claim
    assert poor_match_warning(t(POOR_MATCH_NCC)) is None
    assert poor_match_warning(t(0.865)) is None  # the demo's
    assert "NCC 0.056" in poor_match_warning(t(0.056), "check X")
    assert poor_match_warning(t(0.056), "check X").endswith("check X")


def test_cli_align_user_errors_exit_2(tmp_path, worm_pair, capsys):
    import tifffile

    from napari_catrack.cli import main

    green, _, _ = worm_pair
    single = tmp_path / "single.tif"
    tifffile.imwrite(single, green, imagej=True, metadata={"axes": "TYX"})
    out = tmp_path / "align.json"
    assert main(["align", str(single), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("catrack: error:") and "Traceback" not in err
    assert not out.exists()
    assert main(["align", str(tmp_path / "missing.tif"), "-o", str(out)]) == 2


def test_warp_stack_of_a_numpy_stack_reads_lazily_per_chunk():
    reads = []

    class Counting(np.ndarray):
        """Records slices taken, to prove that the stack is read chunk by chunk."""

        def __getitem__(self, key):
            reads.append(key)
            return np.asarray(super().__getitem__(key))

    rng = np.random.default_rng(4)
    plain = rng.random((10, 32, 36)).astype(np.float32)
    stack = plain.view(Counting)
    t = AlignmentTransform(0.5, 1.5, -3.0)
    lazy = t.warp_stack(stack, frames_per_chunk=4)
    assert reads == [] and lazy.chunks[0] == (4, 4, 2)
    np.testing.assert_array_equal(lazy[9].compute(), t.warp_frame(plain[9]))
    assert reads == [slice(8, 10)]


def test_hann_window_is_scikit_images_radial_hann():
    """`_registration.hann` is written out (skimage's `window` imports scipy.signal, 0.4 s per
    command); it must stay the same radially symmetric window."""
    from skimage.filters import window

    from napari_catrack.core._registration import hann

    for shape in [(192, 192), (128, 256), (169, 192), (31, 17)]:
        np.testing.assert_allclose(hann(shape), window("hann", shape), atol=1e-6)
