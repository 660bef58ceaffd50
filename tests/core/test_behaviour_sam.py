"""Segment Anything end to end with a tiny SAM built from segment_anything.modeling.

The tiny model has random weights, so its masks mean nothing; what is tested is the code path
a user's checkpoint takes: saved as a plain state dict, loaded with weights_only through
`load_sam` (architecture read from the tensors), prompted, propagated, cached, then centerlines.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from napari_catrack.core.behaviour import SegmentParams, compute_centerlines, segment_video
from napari_catrack.core.behaviour.sam import (
    CHECKPOINTS,
    architecture,
    build_sam,
    download_checkpoint,
    load_sam,
    make_segmenter,
    read_state_dict,
)
from napari_catrack.errors import InputError
from tests.core._behaviour_helpers import (
    mid_prompt,
    save_tiny_sam,
    small_video,
    tiny_sam_architecture,
)


@pytest.fixture
def tiny_checkpoint(tmp_path):
    return save_tiny_sam(tmp_path / "tiny_sam.pth")


def test_architecture_is_read_back_from_the_checkpoint(tiny_checkpoint):
    assert architecture(read_state_dict(tiny_checkpoint)) == tiny_sam_architecture()
    loaded = load_sam(tiny_checkpoint)
    assert loaded.model_type == "custom" and loaded.device == "cpu"
    ref = build_sam(tiny_sam_architecture())
    ref.load_state_dict(torch.load(tiny_checkpoint, weights_only=True))
    for a, b in zip(loaded.model.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)


def test_official_vit_b_layout_is_recognised(tmp_path):
    """The real vit_b architecture (random weights, no download) loads as vit_b."""
    arch = tiny_sam_architecture() | dict(
        img_size=1024, embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0, window_size=14,
        global_attn_indexes=[2, 5, 8, 11], out_chans=256, prompt_dim=256, mask_in_chans=16,
        decoder_dim=256, decoder_depth=2, decoder_mlp=2048, iou_hidden=256,
    )  # fmt: skip
    state = build_sam(arch).state_dict()
    assert architecture(state) == arch
    assert (arch["embed_dim"], arch["depth"]) == CHECKPOINTS["vit_b"]["dims"]


def test_tiny_sam_prompt_propagate_cache_and_centerline(tiny_checkpoint, tmp_path):
    v = small_video()
    params = SegmentParams(method="sam", checkpoint=str(tiny_checkpoint),
                           embedding_cache=str(tmp_path / "emb"))  # fmt: skip
    seg = make_segmenter(params)
    frames = v.frames[:4]
    r = segment_video(frames, mid_prompt(v, 1), params, segmenter=seg)
    assert r.method == "sam" and r.masks.shape == frames.shape
    assert r.masks[1].any() and np.all((r.score >= 0) & (r.score <= 1))
    assert seg.cache.misses == 4 and len(list((tmp_path / "emb").rglob("*.npy"))) == 4
    # a correction re-prompts instantly: embeddings come from the cache
    again = segment_video(frames, mid_prompt(v, 1), params, segmenter=make_segmenter(params))
    np.testing.assert_array_equal(again.masks, r.masks)
    cl = compute_centerlines(r.masks)
    assert cl.points.shape == (4, 50, 2) and np.isfinite(cl.points).all()


@pytest.mark.slow
def test_predictor_matches_the_official_sam_predictor(tiny_checkpoint):
    """Our torch-only predictor against segment_anything.SamPredictor (in a subprocess: the
    official package imports torchvision and triton, which napari must never load)."""
    code = textwrap.dedent(
        f"""
        import numpy as np, torch
        from segment_anything import SamPredictor
        from napari_catrack.core.behaviour.sam import load_sam, _Predictor
        loaded = load_sam({str(tiny_checkpoint)!r})
        rng = np.random.default_rng(0)
        img = rng.integers(0, 255, (96, 120, 3), dtype=np.uint8)
        ours, ref = _Predictor(loaded.model), SamPredictor(loaded.model)
        ours.set_image(img); ref.set_image(img)
        pts = np.array([[40.0, 30.0], [70.0, 60.0]], np.float32); lab = np.array([1, 0])
        box = np.array([10, 5, 100, 80], np.float32)
        m1, s1 = ours.predict(pts, lab, box)
        m2, s2, _ = ref.predict(point_coords=pts, point_labels=lab, box=box)
        iou = [(a & b).sum() / max((a | b).sum(), 1) for a, b in zip(m1, m2)]
        print(min(iou), np.abs(s1 - s2).max())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    iou, score_diff = map(float, out.stdout.split())
    assert iou > 0.97 and score_diff < 0.02


@pytest.mark.slow
def test_sam_never_imports_torchvision_or_triton(tiny_checkpoint):
    code = (
        "import sys\nfrom napari_catrack.core.behaviour.sam import load_sam\n"
        f"load_sam({str(tiny_checkpoint)!r})\n"
        "print(','.join(m for m in ('torchvision', 'triton', 'torch._dynamo') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""


def test_files_that_are_not_sam_checkpoints_are_clear_errors(tmp_path, tiny_checkpoint):
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a PyTorch checkpoint"):
        load_sam(text)
    other = tmp_path / "other.pth"
    torch.save({"layer.weight": torch.zeros(3)}, other)
    with pytest.raises(InputError, match="not a Segment Anything checkpoint"):
        load_sam(other)
    with pytest.raises(InputError, match="not found"):
        load_sam(tmp_path / "missing.pth")
    with pytest.raises(InputError, match="holds a custom model, not vit_b"):
        load_sam(tiny_checkpoint, "vit_b")


def test_offline_download_says_what_to_do(monkeypatch, tmp_path):
    import pooch

    monkeypatch.setenv("CATRACK_CACHE_DIR", str(tmp_path))

    def no_network(*args, **kwargs):
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(pooch, "retrieve", no_network)
    with pytest.raises(InputError, match="offline.*classical"):
        download_checkpoint("vit_b")
    # method auto without a checkpoint falls back to the classical method
    seg = make_segmenter(SegmentParams(method="auto"))
    assert seg.name == "classical"
    with pytest.raises(InputError, match="cannot download"):
        make_segmenter(SegmentParams(method="sam"))
