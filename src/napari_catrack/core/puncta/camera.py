"""The camera model: ADU -> detected photons (photoelectrons), and what the fit's likelihood needs.

Everything downstream of this module is in photons. "Photons" are *detected* photons
(photoelectrons): quantum efficiency is not divided out, as in ThunderSTORM and Picasso, so photon
counts and the Cramér-Rao bound stay comparable with theirs. The quantum efficiency is kept so the
simulator can turn incident photons into photoelectrons and so a user can report incident photons.

An EM gain stage multiplies the shot noise variance by the excess noise factor F² = 2 (for gains
well above 1). `likelihood_scale` carries that: the fitter divides EMCCD photons by 2, which makes
mean = variance again, so the Poisson likelihood and its Cramér-Rao bound hold (Mortensen et al.
2010; Chao et al. 2013).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from napari_catrack.errors import InputError


@dataclass(frozen=True)
class CameraModel:
    """Offset (ADU), electrons per ADU, EM gain (1 = sCMOS/CCD), quantum efficiency, read noise (e-)."""

    offset_adu: float = 100.0
    e_per_adu: float = 1.0
    em_gain: float = 1.0
    quantum_efficiency: float = 1.0
    read_noise_e: float = 0.0

    @classmethod
    def defaults_text(cls) -> str:
        """The defaults in words, for `catrack puncta --help` and its no-camera warning."""
        c = cls()
        gain = "no EM gain" if c.em_gain == 1 else f"EM gain {c.em_gain:g}"
        return (f"offset {c.offset_adu:g} ADU, {c.e_per_adu:g} e-/ADU, {gain}, quantum "
                f"efficiency {c.quantum_efficiency:g}, read noise {c.read_noise_e:g} e-")  # fmt: skip

    def __post_init__(self) -> None:
        checks = {
            "offset_adu": np.isfinite(self.offset_adu),
            "e_per_adu": np.isfinite(self.e_per_adu) and self.e_per_adu > 0,
            "em_gain": np.isfinite(self.em_gain) and self.em_gain >= 1,
            "quantum_efficiency": 0 < self.quantum_efficiency <= 1,
            "read_noise_e": np.isfinite(self.read_noise_e) and self.read_noise_e >= 0,
        }
        rules = {
            "offset_adu": "a finite number",
            "e_per_adu": "a number > 0",
            "em_gain": "a number >= 1 (1 for sCMOS/CCD)",
            "quantum_efficiency": "a number in (0, 1]",
            "read_noise_e": "a number >= 0",
        }
        for key, ok in checks.items():
            if not ok:
                raise InputError(f"camera {key} must be {rules[key]}; got {getattr(self, key)!r}")

    @property
    def is_emccd(self) -> bool:
        return self.em_gain > 1

    @property
    def photons_per_adu(self) -> float:
        return self.e_per_adu / self.em_gain

    @property
    def read_noise_photons(self) -> float:
        """Read noise referred to the input (photoelectrons): divided by the EM gain."""
        return self.read_noise_e / self.em_gain

    @property
    def likelihood_scale(self) -> float:
        """Divide photons by this before a Poisson likelihood (2 for EMCCD: excess noise)."""
        return 2.0 if self.is_emccd else 1.0

    def to_photons(self, adu: np.ndarray) -> np.ndarray:
        """ADU -> detected photons (float32; negative values from read noise are kept)."""
        return ((np.asarray(adu, np.float32) - np.float32(self.offset_adu)) *
                np.float32(self.photons_per_adu))  # fmt: skip

    def to_adu(self, photons: np.ndarray) -> np.ndarray:
        """Detected photons -> ADU (the inverse of `to_photons`, no noise)."""
        return np.asarray(photons, np.float64) / self.photons_per_adu + self.offset_adu

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def simulate_camera(
    incident: np.ndarray, camera: CameraModel, rng: np.random.Generator, dtype=np.uint16
) -> np.ndarray:
    """Incident photons per pixel -> ADU: Poisson shot noise of the detected photoelectrons, the
    EM register (a gamma-distributed gain), Gaussian read noise, conversion and offset, clipping to
    the integer type."""
    electrons = rng.poisson(np.clip(incident, 0, None) * camera.quantum_efficiency).astype(
        np.float64
    )
    if camera.is_emccd:  # the EM register: output ~ Gamma(k = input electrons, gain)
        out = np.zeros_like(electrons)
        hit = electrons > 0
        out[hit] = rng.gamma(electrons[hit], camera.em_gain)
        electrons = out
    if camera.read_noise_e > 0:
        electrons = electrons + rng.normal(0.0, camera.read_noise_e, electrons.shape)
    adu = np.round(electrons / camera.e_per_adu + camera.offset_adu)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        adu = np.clip(adu, info.min, info.max)
    return adu.astype(dtype)
