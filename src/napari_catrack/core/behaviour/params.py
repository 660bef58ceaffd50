"""Parameters of the behaviour steps, in a light module (numpy-free dataclasses).

`catrack segment/centerline/velocity --help` and the widgets' forms need only these; the
modules that do the work (propagate, video_centerline, velocity) import pandas and scipy, so
the parameter classes live here and those modules re-export them under their old names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from napari_catrack.params import StepParams, param


@dataclass(frozen=True)
class SegmentParams(StepParams):
    """Worm segmentation settings (session step "segmentation")."""

    step: ClassVar[str] = "segmentation"
    method: Literal["auto", "sam", "classical"] = param(
        "auto", "auto: Segment Anything when a checkpoint is given or cached, else classical"
    )
    checkpoint: str | None = param(None, "SAM checkpoint file (.pth) for method sam/auto",
                                   gui=False)  # fmt: skip
    model_type: Literal["auto", "vit_b", "vit_l", "vit_h"] = param(
        "auto", "SAM architecture (auto: read from the checkpoint)"
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = param(
        "auto", "where SAM runs (auto: CUDA when available, else CPU)"
    )
    polarity: Literal["auto", "dark", "bright"] = param(
        "auto",
        "classical: dark worm on light (bright-field) or bright worm on dark; auto "
        "decides from the prompt point",
    )
    edge_fraction: float = param(0.2, "classical: body edge as a fraction of the worm's "
                                 "contrast", minimum=0.02, maximum=0.9, advanced=True)  # fmt: skip
    tip_fraction: float = param(0.13, "classical: near the body's tips the mask grows to this "
                                "lower fraction of the contrast (a tapering tip is fainter); "
                                "0 = off", minimum=0.0, maximum=0.9, advanced=True)  # fmt: skip
    smooth_px: float = param(0.8, "classical: smoothing before the threshold", minimum=0.0,
                             maximum=5.0, advanced=True, unit="px")  # fmt: skip
    search_px: float = param(40.0, "classical: how far the worm may move between frames",
                             minimum=2.0, advanced=True, unit="px")  # fmt: skip
    low_score: float = param(0.75, "frames scoring below this (SAM: predicted IoU; "
                             "classical: shape overlap with the previous frame relative to "
                             "the usual overlap) are listed",
                             minimum=0.0, maximum=1.0)  # fmt: skip
    area_jump: float = param(0.25, "an area change larger than this fraction of the recent "
                             "median is listed", minimum=0.0, advanced=True)  # fmt: skip
    embedding_cache: str | None = param(None, "folder for cached SAM image embeddings "
                                        "(default: the user cache folder)", advanced=True,
                                        gui=False)  # fmt: skip


@dataclass(frozen=True)
class CenterlineParams(StepParams):
    """Centerline, head/tail and posture settings (session step "centerline")."""

    step: ClassVar[str] = "centerline"
    points: int = param(50, "points per frame, from the head tip (0) to the tail tip",
                        minimum=5, maximum=1000)  # fmt: skip
    smooth: float = param(0.15, "spline smoothing, as a fraction of the body width",
                          minimum=0.0, maximum=2.0, advanced=True)  # fmt: skip
    min_length: float = param(0.85, "a skeleton shorter than this fraction of the median "
                              "body length means the worm touches itself", minimum=0.1,
                              maximum=1.0, advanced=True)  # fmt: skip
    motion_weight: float = param(1.0, "weight of the crawling-wave cue for the head",
                                 minimum=0.0, advanced=True)  # fmt: skip
    shape_weight: float = param(0.3, "weight of the tail-taper cue for the head",
                                minimum=0.0, advanced=True)  # fmt: skip
    appearance_weight: float = param(1.0, "weight of the head cue from the look of the two "
                                     "ends (lighter/darker, learnt from the video; needs "
                                     "the video frames)", minimum=0.0,
                                     advanced=True)  # fmt: skip
    max_fit_residual: float = param(1.5, "a fitted coil further than this from the mask "
                                    "(px, mean) is filled from neighbours instead",
                                    minimum=0.0, advanced=True, unit="px")  # fmt: skip
    max_fill: int = param(5, "gaps of at most this many frames without a usable centerline "
                          "are interpolated from their neighbours (\"filled\"); longer ones "
                          "are \"failed\": position only, posture NaN", minimum=0,
                          advanced=True)  # fmt: skip


@dataclass(frozen=True)
class VelocityParams(StepParams):
    """Velocity settings (session step "velocity")."""

    step: ClassVar[str] = "velocity"
    pixel_size_um: float | None = param(None, "image pixel size", cli="--pixel-size",
                                        minimum=0.0, unit="µm")  # fmt: skip
    smooth_s: float = param(0.5, "Savitzky-Golay window for the derivative", cli="--smooth",
                            minimum=0.0, unit="s")  # fmt: skip
    polyorder: int = param(2, "Savitzky-Golay polynomial order", minimum=1, maximum=5,
                           advanced=True)  # fmt: skip
    flip_y: bool = param(False, "the stage's y axis points the other way than the image's")
    flip_x: bool = param(False, "the stage's x axis points the other way than the image's")
    swap_axes: bool = param(False, "the stage's (y, x) are the image's (x, y)")
    still_um_s: float = param(20.0, "below this speed the direction is 0 (still)",
                              minimum=0.0, unit="µm/s")  # fmt: skip
    head_fraction: float = param(0.15, "part of the body (from the head) whose direction "
                                 "gives forward", minimum=0.01, maximum=0.5,
                                 advanced=True)  # fmt: skip


@dataclass(frozen=True)
class BoutParams(StepParams):
    """Behavioural bouts from the velocity (session step "bouts"): forward runs, reversals,
    pauses and turns, as the motion states of Yemini et al. 2013 (speed thresholds with
    hysteresis, a minimum duration, short interruptions merged)."""

    step: ClassVar[str] = "bouts"
    move_um_s: float = param(40.0, "a still worm starts moving above this speed (hysteresis: "
                             "it stays moving down to the pause speed, --bout-pause-um-s)",
                             cli="--bout-move-um-s", minimum=0.0, unit="µm/s")  # fmt: skip
    pause_um_s: float = param(20.0, "a moving worm pauses below this speed",
                              cli="--bout-pause-um-s", minimum=0.0, unit="µm/s")  # fmt: skip
    min_bout_s: float = param(0.5, "bouts shorter than this are not called (left out of the "
                              "table)", minimum=0.0, unit="s")  # fmt: skip
    merge_gap_s: float = param(0.3, "an interruption of at most this long (another state, "
                               "not unknown) between two bouts of one state is merged into "
                               "them", minimum=0.0, unit="s")  # fmt: skip
    turn_a3: float = param(0.0, "also call a turn where |eigenworm a3| reaches this (0: off; "
                           "coiled frames are turns either way)", minimum=0.0,
                           advanced=True)  # fmt: skip
