"""Synthetic recordings with ground truth, for sample data, tests, benchmarks and model training."""

from napari_catrack.synthetic.calcium import (
    calcium_kernel,
    draw_event_rates,
    simulate_spikes,
    spikes_to_dff,
)
from napari_catrack.synthetic.two_photon import (
    TWO_PHOTON_VARIANTS,
    TwoPhotonMovie,
    TwoPhotonTruth,
    make_two_photon_movie,
)
from napari_catrack.synthetic.worm import (
    WormRecording,
    WormTruth,
    make_worm_recording,
    misalignment_matrix,
    warp_red_to_green,
)

__all__ = [
    "TWO_PHOTON_VARIANTS",
    "TwoPhotonMovie",
    "TwoPhotonTruth",
    "WormRecording",
    "WormTruth",
    "calcium_kernel",
    "draw_event_rates",
    "make_two_photon_movie",
    "make_worm_recording",
    "misalignment_matrix",
    "simulate_spikes",
    "spikes_to_dff",
    "warp_red_to_green",
]
