"""Small synthetic behaviour videos shared by the behaviour tests (cached per session)."""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def small_video(seed: int = 5, n_frames: int = 30, polarity: str = "dark", **kw):
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    return make_behaviour_video(
        n_frames, shape=(160, 160), seed=seed, pixel_size_um=10.0, polarity=polarity, **kw
    )


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def mid_prompt(video, frame: int = 0):
    from napari_catrack.core.behaviour import Anchor

    return Anchor(frame, [video.truth.centerline[frame, 50]], [1])


def tiny_sam_architecture() -> dict:
    """A Segment Anything small enough for tests (random weights, 128 px input)."""
    return dict(
        img_size=128, patch_size=16, embed_dim=64, depth=2, num_heads=2, mlp_ratio=2.0,
        use_rel_pos=True, window_size=4, global_attn_indexes=[1], out_chans=32, prompt_dim=32,
        mask_in_chans=8, decoder_dim=32, decoder_depth=1, decoder_mlp=64, decoder_downsample=2,
        decoder_heads=8, multimask=3, iou_hidden=32, iou_depth=3,
    )  # fmt: skip


def save_tiny_sam(path, seed: int = 0):
    import torch

    from napari_catrack.core.behaviour.sam import build_sam

    torch.manual_seed(seed)
    model = build_sam(tiny_sam_architecture())
    torch.save(model.state_dict(), path)
    return path


def wormpose_on_canvas(folder, frames, size: int = 128):
    """WormPose's bright-field crops (`folder`/NNNNN.png) for `frames`, each pasted at the centre
    of a `size` x `size` canvas of its own border's median: (video (T, size, size), per-frame
    (y, x) offsets to add to a skeleton point (x, y)[::-1] to land on the canvas)."""
    from PIL import Image

    video, offsets = [], []
    for i in frames:
        img = np.asarray(Image.open(folder / f"{i:05d}.png"))
        border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
        canvas = np.full((size, size), np.median(border), img.dtype)
        oy, ox = (size - img.shape[0]) // 2, (size - img.shape[1]) // 2
        canvas[oy : oy + img.shape[0], ox : ox + img.shape[1]] = img
        video.append(canvas)
        offsets.append((oy + 0.5, ox + 0.5))
    return np.stack(video), np.asarray(offsets)


def segmented_video_session(folder, n_frames: int = 12):
    """A small worm video written to `folder`/worm.avi and `catrack segment --session`'d into
    `folder`/s.catrack.h5 (classical, prompt on the true centerline's middle): the session's
    path. A behaviour-only session, as the NWB tests need one."""
    from napari_catrack.cli import main
    from napari_catrack.io.video import write_video

    v = small_video()
    video = write_video(folder / "worm.avi", v.frames[:n_frames], fps=v.fps)
    session = folder / "s.catrack.h5"
    y, x = v.truth.centerline[0, 50]
    assert main(["segment", str(video), "--prompt", f"{y:.0f},{x:.0f}", "--method", "classical",
                 "-o", str(folder / "m.tif"), "--session", str(session)]) == 0  # fmt: skip
    return session
