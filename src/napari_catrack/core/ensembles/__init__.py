"""Neuronal ensembles: groups of neurons that fire together, repeatedly.

Pipeline: event trains (`trains`) -> coactivity in a sliding window (`windows`; or per fixed bin,
`null`) and its circular-shift null -> coactivity peaks (bins) above the null as ensemble events
-> Jaccard similarity and hierarchical clustering (`clustering`) -> a co-activation test of each
cluster's members (`significance`) -> ensembles with member neurons and activation times
(`pipeline`).
"""

import lazy_loader as _lazy

# Names load on first use, so importing a light module of this package (its parameters,
# for the command line) does not import the heavy ones.
__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "clustering": [
            "adjusted_rand_index",
            "cluster_events",
            "jaccard_similarity",
            "silhouette_score",
        ],
        "null": [
            "activity_probability",
            "analytic_null_pmf",
            "bin_frames",
            "coactivity",
            "n_bins",
            "participation",
            "poisson_binomial_pmf",
            "shuffle_null",
            "threshold_from_pmf",
        ],
        "pipeline": [
            "EVENT_COLUMNS",
            "EnsembleResult",
            "MEMBER_COLUMNS",
            "empty_tables",
            "find_ensembles",
        ],
        "trains": [
            "EventTrains",
            "observed_from_traces",
            "trains_from_raster",
            "trains_from_table",
            "wide_table_to_raster",
        ],
        "params": ["EnsembleParams"],
        "significance": ["MemberTest", "member_test"],
        "windows": [
            "WindowNull",
            "coactivity_peaks",
            "n_windows",
            "window_coactivity",
            "window_events",
            "window_frames",
            "window_null",
        ],
    },
)
