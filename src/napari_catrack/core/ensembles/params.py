"""Parameters of the ensembles step: the single source of `find_ensembles`' defaults, the
`catrack ensembles` options, the widget's controls and the provenance stored with the result.
This module imports nothing heavy, so building the command line stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from napari_catrack.errors import InputError
from napari_catrack.params import StepParams, param


@dataclass(frozen=True)
class EnsembleParams(StepParams):
    """Coactivity (sliding window) against a circular-shift null, ensemble events, clustering
    into ensembles, and a co-activation test of each ensemble's members."""

    step: ClassVar[str] = "ensembles"

    coactivity: Literal["window", "bins"] = param(
        "window", "window: neurons whose onsets fall in one sliding window of `bin_s` are "
        "coactive, events are the coactivity peaks; bins: fixed consecutive bins (the classic "
        "raster binning: a co-activation that straddles a bin edge is split)",
    )  # fmt: skip
    bin_s: float = param(0.3, "coactivity window (or bin) length; a window is at least "
                         "`min_window_frames` long", minimum=0.0, unit="s",
                         label="window")  # fmt: skip
    min_window_frames: int = param(3, "shortest window in frames (onsets are known to about a "
                                   "frame: 3 frames tolerate +-1)", minimum=1, maximum=1000,
                                   advanced=True)  # fmt: skip
    n_shuffles: int = param(1000, "circular-shift shuffles of the null", minimum=1,
                            maximum=1_000_000, cli="--shuffles", label="shuffles")  # fmt: skip
    seed: int | None = param(0, "random seed of the shuffles (none = fresh each run)",
                             minimum=0, advanced=True)  # fmt: skip
    percentile: float = param(95.0, "null percentile an event's coactivity must exceed (95: "
                              "p < 0.05)", minimum=0.0, maximum=100.0,
                              label="null percentile")  # fmt: skip
    null: Literal["pooled", "max"] = param(
        "pooled", "pooled: chance events (shuffled peaks, or bins) at the rate 1 - percentile/100 "
        "per window (bin); max: percentile of each shuffle's largest count (family-wise)",
    )  # fmt: skip
    null_method: Literal["shuffle", "analytic"] = param(
        "shuffle", "shuffles, or the exact Poisson-binomial limit of the pooled null",
        advanced=True,
    )  # fmt: skip
    min_neurons: int = param(2, "fewest coactive neurons in an ensemble event (at least 2)", minimum=1,
                             advanced=True)  # fmt: skip
    merge_adjacent: bool = param(True, "(bins) merge adjacent event bins into one event",
                                 cli="--merge")  # fmt: skip
    member_fraction: float = param(0.5, "a member joins at least this share of its ensemble's "
                                   "events", minimum=0.0, maximum=1.0)  # fmt: skip
    linkage_method: Literal[
        "average", "complete", "single", "weighted", "centroid", "median", "ward"
    ] = param(
        "average", "hierarchical clustering linkage of the events' Jaccard distances",
        advanced=True,
    )  # fmt: skip
    n_ensembles: int | None = param(None, "fix the number of ensembles (none = best silhouette)",
                                    minimum=1, advanced=True)  # fmt: skip
    max_k: int = param(20, "most ensembles tried by the silhouette cut", minimum=2,
                       advanced=True)  # fmt: skip
    min_silhouette: float = param(0.1, "below this mean silhouette the events form one ensemble",
                                  minimum=-1.0, maximum=1.0, advanced=True)  # fmt: skip
    min_similarity: float = param(0.4, "events resembling no other this much (Jaccard) are set "
                                  "aside", minimum=0.0, maximum=1.0, advanced=True)  # fmt: skip
    min_events: int = param(3, "fewest events a cluster needs to be an ensemble", minimum=1,
                            advanced=True)  # fmt: skip
    test_members: bool = param(True, "keep a cluster only if its members co-activate more often "
                               "than in the circular shifts (p < 1 - percentile/100)",
                               advanced=True)  # fmt: skip

    def check(self) -> None:
        if not self.bin_s > 0:
            raise InputError(f"--bin-s must be positive, got {self.bin_s}")
        if not 0 < self.percentile < 100:
            raise InputError(f"the percentile must be between 0 and 100; got {self.percentile}")
        if not 0 < self.member_fraction <= 1:
            raise InputError(f"member_fraction must be in (0, 1]; got {self.member_fraction}")
        if self.null_method == "analytic" and (self.null == "max" or self.coactivity != "bins"):
            raise InputError(
                "the analytic null exists for pooled fixed bins only (--coactivity bins, "
                "--null pooled); use shuffles otherwise"
            )
