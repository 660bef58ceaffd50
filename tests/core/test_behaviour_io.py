"""Behaviour videos: Motion-JPEG AVI and MP4 read lazily through PyAV; masks TIFFs."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.errors import InputError
from napari_catrack.io.masks import read_masks, write_masks
from napari_catrack.io.recording import open_recording
from napari_catrack.io.video import VideoReader, write_video
from tests.core._behaviour_helpers import small_video


@pytest.mark.parametrize(("name", "codec"), [("b.avi", "mjpeg"), ("b.mp4", "libx264")])
def test_videos_read_back_frame_by_frame(tmp_path, name, codec):
    v = small_video()
    frames = v.frames[:12]
    path = write_video(tmp_path / name, frames, fps=15.0, codec=codec)
    reader = VideoReader(path)
    assert reader.shape == frames.shape and reader.dtype == np.uint8
    assert reader.fps == pytest.approx(15.0)
    for i in (0, 1, 2, 11, 4, 5):  # sequential reads and jumps backward/forward
        assert np.abs(reader.frame(i).astype(int) - frames[i]).mean() < 3.0
    reader.close()


def test_open_recording_reads_an_avi_lazily(tmp_path):
    v = small_video()
    path = write_video(tmp_path / "cam.avi", v.frames[:8], fps=30.0)
    rec = open_recording(path)
    assert rec.green.shape == (8, 160, 160) and rec.red is None
    assert type(rec.green).__module__.startswith("dask") and rec.fps == pytest.approx(30.0)
    assert rec.summary()["format"] == "video (mjpeg)"
    assert np.abs(np.asarray(rec.green[5]).astype(int) - v.frames[5]).mean() < 3.0
    rec.close()


def test_a_video_frame_is_one_task_not_a_walk_through_the_whole_graph(tmp_path):
    """With the reader as a graph key of its own, computing one frame (napari's time slider)
    culled the whole graph: 16-56 ms a frame of a 20,000-frame video that the reader decodes in
    0.6 ms. The reader is now inlined: one task per frame and nothing else."""
    from napari_catrack.io.video import open_video

    v = small_video()
    path = write_video(tmp_path / "cam.avi", v.frames[:12], fps=30.0)
    raw = open_video(path)
    assert len(raw.data.__dask_graph__()) == 12
    assert np.abs(np.asarray(raw.data[7]).astype(int) - v.frames[7]).mean() < 3.0
    for close in raw.closers:
        close()
    # and the opened recording's channel is that array itself: the (T, 1, Y, X) detour of a
    # one-channel movie added three layers of a task per frame each (74 ms a slider step at
    # 20,000 frames on a loaded machine; 8 ms without them)
    rec = open_recording(path)
    assert len(rec.green.__dask_graph__()) == 12 and rec.red is None
    assert np.abs(np.asarray(rec.green[7]).astype(int) - v.frames[7]).mean() < 3.0
    rec.close()


def test_undecodable_video_is_one_clear_error(tmp_path):
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"RIFF" + bytes(300))
    with pytest.raises(InputError, match="cannot be decoded"):
        VideoReader(bad)
    with pytest.raises(InputError, match="cannot be decoded"):
        open_recording(bad)
    assert bad.read_bytes() == b"RIFF" + bytes(300)


def test_masks_round_trip_and_bad_masks(tmp_path):
    masks = small_video().truth.masks[:4]
    path = write_masks(tmp_path / "m.tif", masks)
    np.testing.assert_array_equal(read_masks(path), masks)
    import tifffile

    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "img.tif", rng.integers(100, 4000, (4, 9, 9), dtype=np.uint16))
    with pytest.raises(InputError, match="does not look like masks"):
        read_masks(tmp_path / "img.tif")


def test_a_damaged_video_never_raises_on_a_frame_and_reports_itself(tmp_path):
    """Stepping napari's slider onto an undecodable frame raised InputError, and a truncated
    file's count (fewer than declared) was reported nowhere."""
    import av

    v = small_video()
    path = write_video(tmp_path / "w.avi", v.frames[:20], fps=15.0)
    data = path.read_bytes()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pos = [p.pos for p in container.demux(stream) if p.size > 0]
    broken = bytearray(data)
    broken[pos[8] + 100 : pos[10] - 8] = bytes(pos[10] - 8 - pos[8] - 100)  # 8 cut, 9 lost
    bad = tmp_path / "bad.avi"
    bad.write_bytes(bytes(broken))
    rec = open_recording(bad)
    assert rec.n_frames == 20 and any("lost and shown blank" in w for w in rec.warnings)
    frames = [np.asarray(rec.green[t]) for t in (0, 8, 9, 8, 19, 7)]  # jumps, back and forth
    assert all(f.shape == (160, 160) for f in frames)
    reader = VideoReader(bad)
    blank = [t for t in range(20) if not reader.frame(t).any()]
    assert set(blank) == reader.undecodable and {9} <= set(blank) <= {8, 9}
    for t in (7, 10, 19):  # the later frames keep their numbers
        assert np.abs(reader.frame(t).astype(int) - v.frames[t]).mean() < 3.0
    reader.close()
    rec.close()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    rec = open_recording(cut)
    assert rec.n_frames < 12 and any("of the 20 the file declares" in w for w in rec.warnings)
    assert "warnings" in rec.summary()
    rec.close()


def test_long_videos_masks_are_written_and_recorded_without_copies(tmp_path):
    """Review h10: `catrack segment --session` on a 20,000-frame 256 x 256 AVI peaked at about
    three times its 1.3 GB of masks (`(masks > 0).astype(uint8)` in write_masks, `astype` in
    the session record); 2,000 frames: 581 MB peak RSS, 346 MB without the copies."""
    import tracemalloc

    from napari_catrack.core.behaviour.propagate import SegmentationResult
    from napari_catrack.core.behaviour.quality import frame_quality
    from napari_catrack.core.behaviour.records import record_segmentation
    from napari_catrack.session import Session

    rng = np.random.default_rng(0)
    masks = rng.random((300, 64, 64)) > 0.5
    tracemalloc.start()
    try:
        write_masks(tmp_path / "m.tif", masks)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * masks.nbytes, peak  # no full-size copy (a copy is 1.2 MB here)
    np.testing.assert_array_equal(read_masks(tmp_path / "m.tif"), masks)

    T = len(masks)
    result = SegmentationResult(masks, np.ones(T), np.full(T, "propagated"), np.zeros(T, int),
                                "classical", [], {})  # fmt: skip
    session = Session(autosave=False)
    record_segmentation(session, result, {}, frame_quality(masks, np.ones(T)))
    stored = session["segmentation"].arrays["masks"]
    assert stored.dtype == np.uint8 and np.shares_memory(stored, masks)


def test_long_videos_masks_are_read_and_walked_without_copies(tmp_path):
    """Review h10: `catrack centerline --masks` on a 20,000-frame video's masks held three
    copies (4.2 GB RSS for 1.31 GB of masks): `read_masks` returned `data > 0` beside the
    uint8 data, and `compute_centerlines` copied every frame with `astype(bool)`."""
    import tracemalloc

    from napari_catrack.core.behaviour import compute_centerlines

    v = small_video(n_frames=12)
    masks = np.concatenate([v.truth.masks] * 10)  # 120 frames of 160 x 160: 3 MB
    write_masks(tmp_path / "m.tif", masks)
    compute_centerlines(masks[:5])  # first-call imports and caches are not the walk's
    tracemalloc.start()
    try:
        back = read_masks(tmp_path / "m.tif")
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        compute_centerlines(back)
        peak_walk = tracemalloc.get_traced_memory()[1] - held  # above the masks read
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(back, masks)
    assert back.dtype == bool
    assert peak < 1.5 * masks.nbytes, peak  # the file's data, not a second full array
    assert peak_walk < 0.5 * masks.nbytes, peak_walk  # no copy of every frame
