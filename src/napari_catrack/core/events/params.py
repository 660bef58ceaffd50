"""Parameters of the events steps: aligning event streams and event-triggered averages.

Kept free of heavy imports so building the command line stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from napari_catrack.errors import InputError
from napari_catrack.params import StepParams, param


@dataclass(frozen=True)
class EventAlignParams(StepParams):
    """Putting behaviour events and a behaviour video on the imaging clock.

    Every clock is placed by the imaging-clock time at which it reads zero: an event log that
    started 2.5 s before imaging has `events_start_s = -2.5`; a video whose first frame came
    1 s after imaging began has `video_start_s = 1`.
    """

    step: ClassVar[str] = "events"

    events_start_s: float = param(
        0.0,
        "imaging-clock time at which the event file's clock "
        "reads 0 (negative: the log started before imaging)",
        unit="s",
    )
    video_fps: float | None = param(
        None,
        "behaviour video frame rate (events given as video "
        "frames, and the synced video); none = from the video file",
        minimum=0.0,
        unit="Hz",
    )
    video_start_s: float = param(
        0.0, "imaging-clock time of the behaviour video's first frame", unit="s"
    )
    max_distance_frames: float = param(
        1.0,
        "an event farther than this from every recorded "
        "imaging frame (in a gap of dropped frames, or outside "
        "the recording) gets frame -1",
        minimum=0.0,
        advanced=True,
    )

    def check(self) -> None:
        if self.video_fps is not None and not self.video_fps > 0:
            raise InputError(f"--video-fps must be positive, got {self.video_fps}")


@dataclass(frozen=True)
class EtaParams(StepParams):
    """Event-triggered averages per neuron, tested against a circular-shift null."""

    step: ClassVar[str] = "eta"

    pre_s: float = param(2.0, "averaged window before each event", minimum=0.0, unit="s")
    post_s: float = param(4.0, "averaged window after each event", minimum=0.0, unit="s")
    baseline_s: float = param(
        1.0, "baseline: this long just before the event", minimum=0.0, unit="s"
    )
    response_start_s: float = param(0.0, "response window start, after the event", unit="s")
    response_end_s: float = param(2.0, "response window end, after the event", unit="s")
    n_shuffles: int = param(1000, "circular shifts in the null distribution", minimum=10)
    alternative: Literal["two-sided", "greater", "less"] = param(
        "two-sided", "excited and inhibited (two-sided), or only one direction"
    )
    alpha: float = param(
        0.05,
        "false discovery rate (Benjamini-Hochberg) called significant",
        minimum=0.0,
        maximum=1.0,
    )
    min_events: int = param(3, "fewer events of a kind: averaged, not tested", minimum=1)
    signal: str = param("dff", "traces column averaged (dff, dff_clean, green, ...)")
    seed: int = param(0, "random seed of the shifts", minimum=0, advanced=True)

    def check(self) -> None:
        if not self.response_end_s > self.response_start_s:
            raise InputError(
                "the response window must end after it starts "
                f"({self.response_start_s} .. {self.response_end_s} s)"
            )
        if not self.baseline_s > 0:
            raise InputError(f"--baseline-s must be positive, got {self.baseline_s}")
        if not 0 < self.alpha < 1:
            raise InputError(f"--alpha must be between 0 and 1, got {self.alpha}")

    @property
    def span_s(self) -> float:
        """How far around an event the test looks (the smallest allowed circular shift)."""
        return max(self.pre_s, self.baseline_s) + max(self.post_s, self.response_end_s)
