"""Neuronal ensembles: groups of neurons that fire together, repeatedly.

Pipeline: event trains (`trains`) -> coactivity per bin and its circular-shift null (`null`) ->
supra-threshold bins as ensemble events -> Jaccard similarity and hierarchical clustering
(`clustering`) -> ensembles with member neurons and activation times (`pipeline`).
"""

from napari_catrack.core.ensembles.clustering import (
    adjusted_rand_index,
    cluster_events,
    jaccard_similarity,
    silhouette_score,
)
from napari_catrack.core.ensembles.null import (
    activity_probability,
    analytic_null_pmf,
    bin_frames,
    coactivity,
    n_bins,
    participation,
    poisson_binomial_pmf,
    shuffle_null,
    threshold_from_pmf,
)
from napari_catrack.core.ensembles.pipeline import (
    EVENT_COLUMNS,
    MEMBER_COLUMNS,
    EnsembleResult,
    empty_tables,
    find_ensembles,
)
from napari_catrack.core.ensembles.trains import (
    EventTrains,
    trains_from_raster,
    trains_from_table,
    wide_table_to_raster,
)

__all__ = [
    "EVENT_COLUMNS",
    "MEMBER_COLUMNS",
    "EnsembleResult",
    "EventTrains",
    "activity_probability",
    "adjusted_rand_index",
    "analytic_null_pmf",
    "bin_frames",
    "cluster_events",
    "coactivity",
    "empty_tables",
    "find_ensembles",
    "jaccard_similarity",
    "n_bins",
    "participation",
    "poisson_binomial_pmf",
    "shuffle_null",
    "silhouette_score",
    "threshold_from_pmf",
    "trains_from_raster",
    "trains_from_table",
    "wide_table_to_raster",
]
