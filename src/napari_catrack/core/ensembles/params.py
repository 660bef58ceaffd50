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
    """Coactivity against a circular-shift null, ensemble events, clustering into ensembles."""

    step: ClassVar[str] = "ensembles"

    bin_s: float = param(0.5, "coactivity bin", minimum=0.0, unit="s", label="bin")
    n_shuffles: int = param(1000, "circular-shift shuffles of the null", minimum=1,
                            maximum=1_000_000, cli="--shuffles", label="shuffles")  # fmt: skip
    seed: int | None = param(0, "random seed of the shuffles (none = fresh each run)",
                             minimum=0, advanced=True)  # fmt: skip
    percentile: float = param(95.0, "null percentile a bin's coactivity must exceed (95: p < 0.05)",
                              minimum=0.0, maximum=100.0, label="null percentile")  # fmt: skip
    null: Literal["pooled", "max"] = param(
        "pooled", "pooled: percentile of all shuffled bins (per-bin rate); max: of each "
        "shuffle's largest bin (family-wise)",
    )  # fmt: skip
    null_method: Literal["shuffle", "analytic"] = param(
        "shuffle", "shuffles, or the exact Poisson-binomial limit of the pooled null",
        advanced=True,
    )  # fmt: skip
    min_neurons: int = param(2, "fewest coactive neurons in an ensemble event (at least 2)", minimum=1,
                             advanced=True)  # fmt: skip
    merge_adjacent: bool = param(True, "merge adjacent event bins into one event", cli="--merge")
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

    def check(self) -> None:
        if not self.bin_s > 0:
            raise InputError(f"--bin-s must be positive, got {self.bin_s}")
        if not 0 < self.percentile < 100:
            raise InputError(f"the percentile must be between 0 and 100; got {self.percentile}")
        if not 0 < self.member_fraction <= 1:
            raise InputError(f"member_fraction must be in (0, 1]; got {self.member_fraction}")
        if self.null == "max" and self.null_method == "analytic":
            raise InputError(
                "the analytic null exists for pooled bins only; use shuffles with 'max'"
            )
