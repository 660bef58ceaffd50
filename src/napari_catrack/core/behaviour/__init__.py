"""Behaviour: worm segmentation (Segment Anything or classical), centerline, posture, velocity.

One idea per module:
- `prompts`: prompt points, anchors, and prompting a frame from its neighbour's mask;
- `classical`: threshold segmentation that needs no weights (the default without a checkpoint);
- `sam`: Segment Anything checkpoints (download, loading, device) and its segmenter;
- `embeddings`: per-frame image embeddings cached on disk;
- `propagate`: anchors + frame-to-frame propagation through the video (SegmentParams);
- `quality`: the low-confidence frames;
- `centerline`: one mask -> a smoothed centerline; fitting a coiled frame;
- `video_centerline`: centerlines for every frame, head first (CenterlineParams);
- `headtail`: which end is the head, consistently;
- `posture`: angles, curvature, length, eigenworms;
- `velocity`: world position from the stage, velocity, direction (VelocityParams);
- `records`: the results in the session file.
"""

from napari_catrack.core.behaviour.posture import (
    curvature,
    eigen_amplitudes,
    fit_eigenworms,
    load_eigenworms,
    posture_table,
)
from napari_catrack.core.behaviour.prompts import Anchor, Prompt, prompt_from_mask
from napari_catrack.core.behaviour.propagate import (
    SegmentationResult,
    SegmentParams,
    segment_video,
)
from napari_catrack.core.behaviour.quality import frame_quality
from napari_catrack.core.behaviour.velocity import (
    VelocityParams,
    centerline_positions,
    compute_velocity,
)
from napari_catrack.core.behaviour.video_centerline import (
    CenterlineParams,
    CenterlineResult,
    compute_centerlines,
)

__all__ = [
    "Anchor",
    "CenterlineParams",
    "CenterlineResult",
    "Prompt",
    "SegmentParams",
    "SegmentationResult",
    "VelocityParams",
    "centerline_positions",
    "compute_centerlines",
    "compute_velocity",
    "curvature",
    "eigen_amplitudes",
    "fit_eigenworms",
    "frame_quality",
    "load_eigenworms",
    "posture_table",
    "prompt_from_mask",
    "segment_video",
]
