"""Benchmark: Segment Anything's cost per frame on this machine (vit_b architecture).

Run: `python benchmarks/bench_behaviour_sam.py [--frames N] [--device cpu|cuda]` (writes
benchmarks/results/behaviour_sam.json, or behaviour_sam_cuda.json for a GPU).

No checkpoint can be downloaded here, so the REAL vit_b architecture is built with RANDOM
weights (`sam.build_sam` with the official vit_b hyper-parameters), saved as a state dict and
loaded through `load_sam`, the path a user's checkpoint takes. That measures time exactly (the
arithmetic does not depend on the weights) but says nothing about accuracy: SAM's masks on
worms cannot be scored without the real weights, and none are claimed.

Measured on 256 x 256 synthetic behaviour frames: the image encoder per frame (the expensive
part, done once per frame and cached on disk), the prompt decoder per prompt (what a correction
costs once the embedding is cached), and a cached re-run. torch uses 2 threads (the machine's
cores); the load average is recorded.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

VIT_B = dict(
    img_size=1024, patch_size=16, embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0,
    use_rel_pos=True, window_size=14, global_attn_indexes=[2, 5, 8, 11], out_chans=256,
    prompt_dim=256, mask_in_chans=16, decoder_dim=256, decoder_depth=2, decoder_mlp=2048,
    decoder_downsample=2, decoder_heads=8, multimask=3, iou_hidden=256, iou_depth=3,
)  # fmt: skip


def main() -> None:
    import torch

    from napari_catrack.core.behaviour import Anchor, SegmentParams, segment_video
    from napari_catrack.core.behaviour.sam import build_sam, load_sam, make_segmenter
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="results file")
    args = parser.parse_args()
    gpu = args.device.startswith("cuda")
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "sam_vit_b_random.pth"
        torch.save(build_sam(VIT_B).state_dict(), ckpt)
        t0 = time.perf_counter()
        loaded = load_sam(ckpt, "vit_b", args.device)
        t_load = time.perf_counter() - t0
        video = make_behaviour_video(args.frames, seed=0)
        params = SegmentParams(method="sam", checkpoint=str(ckpt), device=args.device,
                               embedding_cache=str(Path(tmp) / "emb"))  # fmt: skip
        seg = make_segmenter(params, loaded=loaded)
        anchor = Anchor(0, [video.truth.centerline[0, 50]], [1])
        if gpu:  # a GPU's first call builds its kernels: one frame untimed, its own cache
            warm = dataclasses.replace(params, embedding_cache=str(Path(tmp) / "w"))
            segment_video(
                video.frames[:1], anchor, warm, segmenter=make_segmenter(warm, loaded=loaded)
            )
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        segment_video(video.frames, anchor, params, segmenter=seg)
        t_first, c_first = time.perf_counter() - t0, time.process_time() - c0
        # decoder only: embeddings cached now, as when the user corrects a frame
        seg2 = make_segmenter(params, loaded=loaded)
        t0 = time.perf_counter()
        segment_video(video.frames, anchor, params, segmenter=seg2)
        t_cached = time.perf_counter() - t0
        assert seg2.cache.misses == 0
    n = args.frames
    result = {
        "command": f"python benchmarks/bench_behaviour_sam.py --frames {n} --device {args.device} "
        f"--threads {args.threads}",
        "model": "vit_b architecture (official hyper-parameters), RANDOM weights: timing only",
        "device": loaded.device,
        **({"gpu": torch.cuda.get_device_name(), "warm_up": "one frame, untimed"} if gpu else {}),
        "torch_threads": args.threads,
        "frames": n,
        "frame_shape": list(video.frames.shape[1:]),
        "load_s": round(t_load, 2),
        "seconds_per_frame_first_pass": round(t_first / n, 2),
        "cpu_seconds_per_frame_first_pass": round(c_first / n, 2),
        "seconds_per_frame_cached_embeddings": round(t_cached / n, 3),
        "machine": {
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "load_after": os.getloadavg(),
        },
        "accuracy": "not measured: no real SAM weights can be downloaded on this machine",
    }
    name = "behaviour_sam_cuda.json" if gpu else "behaviour_sam.json"
    out = args.out or ROOT / "benchmarks" / "results" / name
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print("wrote", out)
    return None


if __name__ == "__main__":
    main()
