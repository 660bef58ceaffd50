"""camera.json: the camera calibration that turns ADU into photons.

    {"offset_adu": 100, "e_per_adu": 0.46, "em_gain": 1, "quantum_efficiency": 0.82,
     "read_noise_e": 1.6}

The first four keys are required (a missing one is named); `read_noise_e` is optional (0).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from napari_catrack.core.puncta.camera import CameraModel
from napari_catrack.errors import InputError
from napari_catrack.io.atomic import write_text_atomic

REQUIRED = ("offset_adu", "e_per_adu", "em_gain", "quantum_efficiency")
OPTIONAL = ("read_noise_e",)


def camera_from_dict(values: dict, where: str = "camera") -> CameraModel:
    """A `CameraModel` from a mapping; one line naming what is missing, unknown or not a number."""
    if not isinstance(values, dict):
        raise InputError(f"{where} must be a JSON object with keys {', '.join(REQUIRED)}")
    missing = [k for k in REQUIRED if k not in values]
    if missing:
        raise InputError(
            f"{where} lacks key(s) {', '.join(missing)}; a camera file needs "
            f"{', '.join(REQUIRED)} (optional: {', '.join(OPTIONAL)})"
        )
    unknown = sorted(set(values) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise InputError(
            f"{where} has unknown key(s) {', '.join(unknown)}; known: "
            f"{', '.join(REQUIRED + OPTIONAL)}"
        )
    numbers = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{where}: {key} must be a number, got {value!r}")
        numbers[key] = float(value)
    return CameraModel(**numbers)


def read_camera(path: str | os.PathLike) -> CameraModel:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"camera file not found: {path}")
    try:
        values = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"camera file {path} is not valid JSON: {exc}") from None
    return camera_from_dict(values, f"camera file {path}")


def write_camera(camera: CameraModel, path: str | os.PathLike) -> Path:
    return write_text_atomic(path, json.dumps(camera.to_dict(), indent=2) + "\n")
