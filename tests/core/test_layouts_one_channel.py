"""A one-channel movie opened as interleaved is recognised, a real two-channel one is not."""

from __future__ import annotations

import numpy as np

from napari_catrack.io.layouts import looks_like_one_channel, split_channels
from napari_catrack.synthetic import make_worm_recording


def test_interleaved_one_channel_is_flagged_two_channels_are_not():
    rec = make_worm_recording(n_frames=24, shape=(64, 64), n_neurons=5, seed=4)
    one = split_channels(rec.green, "TYX", "interleaved")
    assert any("ONE channel" in n for n in one.notes)
    both = np.empty((48, 64, 64), rec.green.dtype)
    both[0::2], both[1::2] = rec.green, rec.red  # a true interleaved recording
    two = split_channels(both, "TYX", "interleaved")
    assert not any("ONE channel" in n for n in two.notes)
    np.testing.assert_array_equal(np.asarray(two.red), rec.red)
    verdict, why = looks_like_one_channel(rec.green[0::2], rec.green[1::2])
    assert verdict and "correlation" in why
