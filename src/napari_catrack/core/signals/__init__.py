"""Signals: from tracked neurons (or drawn polygons) to clean dF/F traces, one idea per module.

- `extraction`: disk/annulus sampling of tracked neurons in green and (aligned) red.
- `roi`: the trace of a user-drawn polygon.
- `ratio`: green/red ratio with a division guard.
- `baselines`: F0 (constant, running, CaImAn-style, block) and dF/F.
- `drift`: photobleaching correction and slow-drift removal.
- `denoise`: wavelet shrinkage and Savitzky-Golay smoothing.
- `noise`: robust noise (the MAD -> SD constant), Cascade's standardised noise, noise at a
  lag (the same on raw and pre-smoothed traces), rolling residual noise and SNR.
- `cleaning`: the `clean_traces` pipeline (named steps with recorded parameters).
- `arrays`, `nan`, `windows`: shape, missing-sample and time-window helpers shared by all.

Import from the module that owns a function (`from napari_catrack.core.signals.baselines
import baseline`): this package re-exports nothing, so importing one helper stays cheap.
"""
