"""The range of simulated scenes the puncta network is trained on (and calibrated on): one
place, so training (`training.py`) and the post-hoc calibration (`calibrate.py`) draw from the
same distribution."""

from __future__ import annotations

import numpy as np

from napari_catrack.core.puncta.inputs import BASELINE_HALF
from napari_catrack.core.puncta.params import TrainPunctaParams

CLIP_FRAMES = 2 * BASELINE_HALF + 8  # frames per simulated clip; the middle 8 are used


def random_scene(rng: np.random.Generator, tp: TrainPunctaParams, hardness: float = 1.0,
                 shape: tuple[int, int] | None = None):  # fmt: skip
    """A scene configuration drawn from the range the network should handle; `hardness` (0-1)
    is the curriculum: the densest scenes grow from 1 puncta/um^2 to `tp.max_density`."""
    from napari_catrack.synthetic.puncta import EMCCD, SCMOS, PunctaSceneConfig

    def loguniform(lo, hi):
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

    densest = 1.0 + (tp.max_density - 1.0) * float(np.clip(hardness, 0, 1))
    dense = rng.random() < 0.7
    density = rng.uniform(0.5, max(densest, 0.6)) if dense else loguniform(0.05, 0.5)
    dim = rng.random() < 0.5
    photons = loguniform(min(tp.min_photons, 790), 800) if dim else loguniform(800, 5000)
    return PunctaSceneConfig(
        shape=shape or (tp.patch, tp.patch),
        n_frames=CLIP_FRAMES,
        pixel_size_nm=tp.pixel_size_nm,
        density_per_um2=density,
        psf="airy" if rng.random() < 0.3 else "gaussian",
        psf_sigma_nm=tp.psf_sigma_nm * rng.uniform(0.8, 1.2),
        photons=photons,
        background=loguniform(5, 80),
        immobile_fraction=rng.uniform(0.2, 0.8),
        diffusion_um2_s=loguniform(0.005, 0.2),
        calcium_fraction=0.6,
        calcium_rate=0.12,
        calcium_photons=loguniform(300, 3000),
        calcium_background=loguniform(10, 80),
        diffuse_rate=0.3,
        diffuse_peak=loguniform(5, 150),
        camera=EMCCD if rng.random() < 0.3 else SCMOS,
    )


def calibration_scene(rng: np.random.Generator, tp: TrainPunctaParams,
                      shape: tuple[int, int] = (96, 96)):  # fmt: skip
    """A scene for the post-hoc uncertainty calibration (`calibrate.py`): the simulator's
    default optics and camera (a Gaussian PSF of the stated width, sCMOS) with the density,
    brightness and background spread over the range the network is trained for. Not the
    training range itself: that one also varies the PSF width by +-20 %, the PSF shape and the
    camera, so the network tolerates a misstated width or an Airy PSF, but its errors there
    are 1.3-2x those on correctly described data; a calibration over it over-reported the
    uncertainty of well-described movies by 1.4-1.7x. The reported uncertainty is thus for a
    correctly stated PSF and camera, as the classical fit's Cramér-Rao bound is
    (docs/puncta.md gives the factor on an Airy PSF with an EMCCD)."""
    from napari_catrack.synthetic.puncta import PunctaSceneConfig

    def loguniform(lo, hi):
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

    return PunctaSceneConfig(
        shape=shape,
        n_frames=CLIP_FRAMES,
        pixel_size_nm=tp.pixel_size_nm,
        psf_sigma_nm=tp.psf_sigma_nm,
        density_per_um2=loguniform(0.05, tp.max_density),
        photons=loguniform(min(tp.min_photons, 1000), 5000),
        background=loguniform(5, 80),
    )
