"""The uncertainty a single-emitter localisation carries because it may be two puncta that no
fit can separate.

Why: two puncta closer than about 1.25 PSF widths give one spot; the one-versus-two likelihood
ratio (`multi.split_pairs`) is then within noise, so the fit reports one punctum at the pair's
light-weighted centre, off each of them by about half their separation, with a Cramér-Rao bound
that knows nothing of it (on simulated movies at 0.25 puncta/um^2: 0.7 % of the localisations,
errors of 30-70 nm against bounds of 3-4 nm, and half of the excess of error over reported
uncertainty). No per-spot test can tell such a spot from one punctum, but the movie can say how
likely it is:

- prior: with puncta at density rho (localisations per frame and pixel), another punctum lies
  within r = `REACH` PSF widths of a given one with probability 1 - exp(-rho pi r^2); each such
  pair gives one localisation for two puncta, so a localisation is a merged pair with
  probability q = (1 - exp(-rho pi r^2)) / 2;
- evidence from the spot's brightness: a pair is as bright as two puncta. The movie's own
  localisations give the single-punctum brightness distribution (log-normal, robust median and
  MAD of log photons); the sum of two is log-normal by Fenton-Wilkinson moment matching;
- evidence from its width: a pair at separation d is wider, sigma^2 + d^2 / 8 on average over
  its orientation (E d^2 = r^2 / 2 for d uniform over the disc); the single-punctum width
  distribution is again the movie's own (median and MAD of the fitted sigma^2).

The posterior weight w of "pair" (Bayes with those two likelihood ratios) times the variance a
merged pair adds, `SHARE_FACTOR` x r^2 per axis (a pair at separation d puts the fit at
d (1 - a) from the matched punctum, a > 1/2 its light share: E[(1 - a)^2] ~ 0.2 for this
simulator's brightness spread, times E d^2 / 2 = r^2 / 4 per axis), is added to each
localisation's variance. A punctum of ordinary brightness and width keeps its bound (w ~ q,
below 1 % at moderate density). REACH and SHARE_FACTOR were chosen on simulated movies with
seeds 21-25 (not the benchmark's seed 7; docs/puncta.md): pairs closer than 1.25 PSF widths were
fitted as one (1.7-1.8 x the photons of the matched punctum), farther ones mostly split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.core.signals.noise import MAD_TO_SD

REACH = 1.25  # PSF widths: pairs closer than this are fitted as one spot
SHARE_FACTOR = 0.05  # x r^2: the variance per axis a merged pair adds to its single fit
MIN_LOCALIZATIONS = 20  # fewer than this: no brightness or width distribution to compare with


def _robust(values: np.ndarray, floor: float) -> tuple[float, float]:
    """Median and MAD-based standard deviation (at least `floor`)."""
    mid = float(np.median(values))
    return mid, max(MAD_TO_SD * float(np.median(np.abs(values - mid))), floor)


def _log_normal_ratio(x, mu_a, var_a, mu_b, var_b) -> np.ndarray:
    """log N(x; mu_a, var_a) - log N(x; mu_b, var_b)."""
    return (
        -0.5 * (x - mu_a) ** 2 / var_a + 0.5 * (x - mu_b) ** 2 / var_b
        - 0.5 * np.log(var_a / var_b)
    )  # fmt: skip


def pair_probability(table: pd.DataFrame, n_frames: int, area_px: float, sigma0: float):
    """(n,) posterior probability that each localisation is two unresolved puncta (see module
    docstring); zeros when the movie has too few localisations to describe a single punctum."""
    n = len(table)
    if n < MIN_LOCALIZATIONS or n_frames < 1 or area_px <= 0:
        return np.zeros(n)
    photons = table.photons.to_numpy(float)
    sigma2 = table.sigma.to_numpy(float) ** 2
    ok = np.isfinite(photons) & (photons > 0) & np.isfinite(sigma2)
    if ok.sum() < MIN_LOCALIZATIONS:
        return np.zeros(n)
    rho = n / (n_frames * area_px)
    r = REACH * sigma0
    prior = 0.5 * (1.0 - np.exp(-rho * np.pi * r * r))
    # brightness: one punctum log-normal(mu, s); two: Fenton-Wilkinson log-normal of the sum
    log_n = np.log(np.where(ok, photons, 1.0))
    mu, s = _robust(log_n[ok], 0.05)
    var_pair = np.log(1.0 + (np.exp(s * s) - 1.0) / 2.0)
    mu_pair = np.log(2.0) + mu + s * s / 2.0 - var_pair / 2.0
    llr = _log_normal_ratio(log_n, mu_pair, var_pair, mu, s * s)
    # width: a pair is wider by E[d^2] / 8 = r^2 / 16 in sigma^2
    w_mid, w_sd = _robust(sigma2[ok], 0.01 * sigma0**2)
    llr = llr + _log_normal_ratio(sigma2, w_mid + r * r / 16.0, w_sd**2, w_mid, w_sd**2)
    with np.errstate(over="ignore"):
        odds = prior / (1.0 - prior) * np.exp(np.clip(llr, -50.0, 50.0))
    return np.where(ok, odds / (1.0 + odds), 0.0)


def add_unresolved_variance(
    table: pd.DataFrame, n_frames: int, area_px: float, sigma0: float
) -> pd.DataFrame:
    """The table with `pair_probability` x the merged-pair variance added to uncertainty_x/_y
    (and `uncertainty`, their quadratic mean); a new table."""
    if len(table) == 0:
        return table
    w = pair_probability(table, n_frames, area_px, sigma0)
    extra = w * SHARE_FACTOR * (REACH * sigma0) ** 2
    table = table.copy()
    ux = np.sqrt(table.uncertainty_x.to_numpy(float) ** 2 + extra)
    uy = np.sqrt(table.uncertainty_y.to_numpy(float) ** 2 + extra)
    table["uncertainty_x"], table["uncertainty_y"] = ux, uy
    table["uncertainty"] = np.sqrt((ux**2 + uy**2) / 2)
    return table
