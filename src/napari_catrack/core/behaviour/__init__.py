"""Behaviour: worm segmentation (Segment Anything or classical), centerline, posture, velocity.

One idea per module:
- `prompts`: prompt points, anchors, and prompting a frame from its neighbour's mask;
- `classical`: threshold segmentation that needs no weights (the default without a checkpoint);
- `sam`: Segment Anything checkpoints (download, loading, device) and its segmenter;
- `embeddings`: per-frame image embeddings cached on disk;
- `params`: the steps' parameters (SegmentParams, CenterlineParams, VelocityParams), light;
- `propagate`: anchors + frame-to-frame propagation through the video;
- `quality`: the low-confidence (doubtful) frames;
- `masks`: small mask geometry (crops, skeleton tips, which holes are a coil's loop);
- `centerline`: one mask -> a smoothed centerline; fitting a coiled frame;
- `crossing`: a coiled frame's centerline walked through its crossing or round its loop;
- `shape_check`: whether a centerline looks like a worm's body (no fold-backs, its length);
- `video_centerline`: centerlines for every frame, head first, with their status;
- `headtail`: which end is the head, consistently;
- `posture`: angles, curvature, length, eigenworms, the kymograph and its colour scale;
- `velocity`: world position from the stage, velocity, direction;
- `records`: the results in the session file.
"""

import lazy_loader as _lazy

# Names load on first use, so importing a light module of this package (its parameters,
# for the command line) does not import the heavy ones.
__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "posture": [
            "curvature",
            "eigen_amplitudes",
            "fit_eigenworms",
            "load_eigenworms",
            "posture_table",
        ],
        "prompts": ["Anchor", "Prompt", "prompt_from_mask"],
        "params": ["CenterlineParams", "SegmentParams", "VelocityParams"],
        "propagate": ["SegmentationResult", "segment_video"],
        "quality": ["frame_quality"],
        "velocity": ["centerline_positions", "compute_velocity", "direction_values"],
        "video_centerline": ["CenterlineResult", "compute_centerlines"],
    },
)
