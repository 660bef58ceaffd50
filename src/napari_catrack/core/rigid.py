"""The red → green channel transform: one small value object shared by the CLI, widgets and signals.

Convention (ARCHITECTURE.md, the CLI contract): a red pixel p = (y, x) lands at
``s·R·U·(p − c) + c + (dy, dx)`` in green, with c = ((H − 1)/2, (W − 1)/2) the image centre,
R = [[cos θ, −sin θ], [sin θ, cos θ]] acting on (y, x); θ = rotation_deg, positive =
counter-clockwise as seen on screen (y pointing down), and U = [[a, h], [0, 1/a]] the affine part
(a = `aspect`, h = `shear`; the identity for the usual rigid transform). Any 2-D affine map that
does not mirror the image has exactly one such form (a QR decomposition of its linear part).
Everything here derives from `matrix`, so the convention lives in exactly one place.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from napari_catrack.errors import InputError
from napari_catrack.io.lazy import is_dask

if TYPE_CHECKING:  # dask is imported where a warp is built: commands mapping points never need it
    import dask.array as da

SOURCES = ("estimated", "manual", "file")


def image_centre(shape: tuple[int, ...]) -> np.ndarray:
    """Centre (y, x) of the last two axes of `shape`, the rotation pivot of the convention."""
    h, w = (int(n) for n in shape[-2:])
    return np.array([(h - 1) / 2.0, (w - 1) / 2.0])


@dataclass(frozen=True)
class AlignmentTransform:
    """Rigid (optionally scaled, or fully affine) map from red pixel to green pixel coordinates.

    `info` carries free-form provenance (quality score, frames used ...); it is not part of the
    geometry, is ignored by equality, and goes to JSON under "provenance". `aspect` and `shear`
    stay 1 and 0 for a rigid transform; two cameras (or light paths) with different optics need
    them (e.g. a measured dual-camera calibration: scales 0.996 and 0.997, a small shear).
    """

    dy: float = 0.0
    dx: float = 0.0
    rotation_deg: float = 0.0
    scale: float = 1.0
    source: str = "estimated"
    info: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    aspect: float = 1.0
    shear: float = 0.0

    def __post_init__(self) -> None:
        for name in ("dy", "dx", "rotation_deg", "scale", "aspect", "shear"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise InputError(f"alignment {name} must be a number, got {value!r}")
            if not math.isfinite(float(value)):
                raise InputError(f"alignment {name} must be finite, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.scale <= 0:
            raise InputError(f"alignment scale must be positive, got {self.scale}")
        if self.aspect <= 0:
            raise InputError(f"alignment aspect must be positive, got {self.aspect}")
        if self.source not in SOURCES:
            raise InputError(
                f"alignment source must be one of {', '.join(SOURCES)}: {self.source!r}"
            )

    # -- geometry ---------------------------------------------------------------------------------
    @property
    def is_identity(self) -> bool:
        return (
            self.dy == 0 and self.dx == 0 and self.rotation_deg == 0 and self.scale == 1
            and not self.is_affine
        )  # fmt: skip

    @property
    def is_affine(self) -> bool:
        """True when the map has more than rotation, scale and shift (aspect or shear)."""
        return self.aspect != 1 or self.shear != 0

    def replace(self, **changes: Any) -> AlignmentTransform:
        """A copy with some fields changed (the dataclass is frozen so nudges never alias)."""
        return dataclasses.replace(self, **changes)

    def matrix(self, shape: tuple[int, ...]) -> np.ndarray:
        """3×3 homogeneous matrix M with (y_g, x_g, 1) = M · (y_r, x_r, 1) for images of `shape`."""
        theta = math.radians(self.rotation_deg)
        cos, sin = math.cos(theta), math.sin(theta)
        linear = self.scale * np.array([[cos, -sin], [sin, cos]])
        if self.is_affine:
            linear = linear @ np.array([[self.aspect, self.shear], [0.0, 1.0 / self.aspect]])
        c = image_centre(shape)
        m = np.eye(3)
        m[:2, :2] = linear
        m[:2, 2] = c - linear @ c + (self.dy, self.dx)
        return m

    def inverse_matrix(self, shape: tuple[int, ...]) -> np.ndarray:
        """Green → red: where in red to look for a green pixel (what resampling needs)."""
        return np.linalg.inv(self.matrix(shape))

    def napari_affine(self, shape: tuple[int, ...], ndim: int = 2) -> np.ndarray:
        """Affine for the red Image layer (data → world) so it lands on an identity green layer.

        For a layer with leading axes (T, Y, X), pass ``ndim=3``: the leading axes stay untouched.
        If the green layer itself has a world transform G, use ``G @ napari_affine(...)``.
        """
        if ndim < 2:
            raise InputError(f"an image layer needs at least 2 dimensions, got {ndim}")
        out = np.eye(ndim + 1)
        m = self.matrix(shape)
        out[ndim - 2 : ndim, ndim - 2 : ndim] = m[:2, :2]
        out[ndim - 2 : ndim, ndim] = m[:2, 2]
        return out

    @classmethod
    def from_matrix(
        cls, matrix: np.ndarray, shape: tuple[int, ...], source: str = "manual"
    ) -> AlignmentTransform:
        """Read the transform back from a homogeneous matrix (e.g. a napari affine).

        Takes the last two spatial axes of a (ndim+1)-square matrix. The linear part is split as
        s·R·U (QR decomposition, U upper triangular with determinant 1): a similarity comes back
        with aspect 1 and shear 0 (to 1e-9, so float noise does not make it "affine"), any other
        map that does not mirror the image comes back exactly.
        """
        m = np.asarray(matrix, dtype=float)
        if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 3:
            raise InputError(f"expected a square homogeneous matrix, got shape {m.shape}")
        nd = m.shape[0] - 1
        linear = m[nd - 2 : nd, nd - 2 : nd]
        offset = m[nd - 2 : nd, nd]
        det = float(np.linalg.det(linear))
        if not det > 0:
            raise InputError("the matrix flips or collapses the image; it is not a rotation")
        q, r = np.linalg.qr(linear)
        signs = np.sign(np.diag(r))  # make U's diagonal positive; Q is then a rotation (det > 0)
        q, r = q * signs, r * signs[:, None]
        scale = math.sqrt(det)
        aspect, shear = float(r[0, 0] / scale), float(r[0, 1] / scale)
        if abs(aspect - 1.0) < 1e-9 and abs(shear) < 1e-9:
            aspect, shear = 1.0, 0.0  # a similarity: its exact angle (no QR rounding)
            angle = math.atan2(linear[1, 0] - linear[0, 1], linear[0, 0] + linear[1, 1])
        else:
            angle = math.atan2(q[1, 0], q[0, 0])
        rotation = math.degrees(angle)
        geometry = {"aspect": aspect, "shear": shear}
        base = cls(0.0, 0.0, rotation, scale, source, **geometry).matrix(shape)
        dy, dx = offset - base[:2, 2]
        return cls(float(dy), float(dx), rotation, scale, source, **geometry)

    def map_points(
        self, yx: np.ndarray, shape: tuple[int, ...], inverse: bool = False
    ) -> np.ndarray:
        """Red (y, x) points → green coordinates (or green → red with ``inverse=True``)."""
        pts = np.asarray(yx, dtype=float)
        if pts.shape[-1] != 2:
            raise InputError(f"points must have (y, x) in the last axis, got shape {pts.shape}")
        m = self.inverse_matrix(shape) if inverse else self.matrix(shape)
        return pts @ m[:2, :2].T + m[:2, 2]

    # -- resampling -------------------------------------------------------------------------------
    def warp_frame(
        self, red_frame: np.ndarray, shape: tuple[int, ...] | None = None, cval: float = 0.0
    ) -> np.ndarray:
        """Red frame resampled onto the green pixel grid (order-1, float32; outside = `cval`).

        `shape` is the green frame shape (defaults to the red one: both cameras share a grid).
        """
        frame = np.asarray(red_frame)
        if frame.ndim != 2:
            raise InputError(f"warp_frame needs a 2-D frame, got shape {frame.shape}")
        out_shape = tuple(frame.shape) if shape is None else tuple(int(n) for n in shape[-2:])
        inv = self.inverse_matrix(out_shape)
        return ndimage.affine_transform(
            frame.astype(np.float32, copy=False),
            inv[:2, :2],
            offset=inv[:2, 2],
            output_shape=out_shape,
            order=1,
            mode="constant",
            cval=cval,
        )

    def warp_stack(
        self, red_stack: Any, cval: float = 0.0, frames_per_chunk: int | None = None
    ) -> da.Array:
        """Lazy (T, Y, X) float32 dask array of red on the green grid, warped chunk by chunk.

        Nothing is read or warped until a chunk is computed; a numpy (or memory-mapped) stack is
        sliced per chunk, never copied whole.
        """
        if getattr(red_stack, "ndim", None) != 3:
            shape = getattr(red_stack, "shape", None)
            raise InputError(f"warp_stack needs a (T, Y, X) stack, got shape {shape}")

        def warp_block(block: np.ndarray) -> np.ndarray:
            out = np.empty(block.shape, dtype=np.float32)
            for i in range(block.shape[0]):
                out[i] = self.warp_frame(block[i], cval=cval)
            return out

        import dask.array as da

        if is_dask(red_stack):
            t_chunk = frames_per_chunk or red_stack.chunks[0][0]
            arr = red_stack.rechunk({0: t_chunk, 1: -1, 2: -1})
            return arr.map_blocks(warp_block, dtype=np.float32)
        n, h, w = red_stack.shape
        t_chunk = frames_per_chunk or 16
        t_chunks = tuple(min(t_chunk, n - i) for i in range(0, n, t_chunk))

        def from_source(block_info: dict | None = None) -> np.ndarray:
            (t0, t1), _, _ = block_info[None]["array-location"]
            return warp_block(np.asarray(red_stack[t0:t1]))

        name = f"warp-red-{uuid.uuid4().hex}"  # a given name: dask need not hash (read) the stack
        return da.map_blocks(
            from_source, dtype=np.float32, chunks=(t_chunks, (h,), (w,)), name=name
        )

    # -- persistence ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, float | str]:
        """Flat scalars only, so it fits JSON files and HDF5 attributes alike.

        `aspect` and `shear` are written only for an affine transform, so a rigid one is stored
        exactly as before they existed (and older readers of a rigid file see nothing new).
        """
        out: dict[str, float | str] = {
            "dy": self.dy,
            "dx": self.dx,
            "rotation_deg": self.rotation_deg,
            "scale": self.scale,
            "source": self.source,
        }
        if self.is_affine:
            out.update(aspect=self.aspect, shear=self.shear)
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> AlignmentTransform:
        """Validate and build; `source` overrides the stored one (loading a file → "file")."""
        if not isinstance(data, dict):
            raise InputError(
                f"an alignment must be a mapping with dy, dx, rotation_deg; got {data!r}"
            )
        missing = [k for k in ("dy", "dx", "rotation_deg") if k not in data]
        if missing:
            raise InputError(f"alignment lacks key(s) {', '.join(missing)}")
        values = {}
        keys = (("dy", None), ("dx", None), ("rotation_deg", None), ("scale", 1.0),
                ("aspect", 1.0), ("shear", 0.0))  # fmt: skip
        for key, default in keys:
            value = data.get(key, default)
            try:
                if isinstance(value, bool):
                    raise TypeError
                values[key] = float(value)
            except (TypeError, ValueError):
                raise InputError(f"alignment {key} must be a number, got {value!r}") from None
        provenance = data.get("provenance", {})
        return cls(
            **values,
            source=source or str(data.get("source", "file")),
            info=dict(provenance) if isinstance(provenance, dict) else {},
        )

    def save_json(self, path: str | os.PathLike) -> Path:
        """Write {"dy", "dx", "rotation_deg", ...} atomically (temp file + os.replace)."""
        from napari_catrack.io.atomic import write_text_atomic

        payload: dict[str, Any] = self.to_dict()
        payload["convention"] = (
            "red pixel p=(y,x) lands at scale*R(p-c)+c+(dy,dx) in green; c=((H-1)/2,(W-1)/2); "
            "positive rotation_deg = counter-clockwise on screen"
        )
        if self.is_affine:
            payload["convention"] = (
                "red pixel p=(y,x) lands at scale*R*U(p-c)+c+(dy,dx) in green, "
                "U=[[aspect,shear],[0,1/aspect]]; c=((H-1)/2,(W-1)/2); "
                "positive rotation_deg = counter-clockwise on screen"
            )
        if self.info:
            payload["provenance"] = _jsonable(self.info)
        return write_text_atomic(path, json.dumps(payload, indent=2) + "\n")

    @classmethod
    def load_json(cls, path: str | os.PathLike) -> AlignmentTransform:
        """Read a file written by `save_json` (or any JSON with dy, dx, rotation_deg)."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"alignment file not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"alignment file {path} is not valid JSON: {exc}") from None
        try:
            return cls.from_dict(data, source="file")
        except InputError as exc:
            raise InputError(f"alignment file {path}: {exc}") from None


def _jsonable(obj: Any) -> Any:
    """numpy scalars/arrays → plain Python so provenance always serialises."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def sample_red_at(
    red_frame: np.ndarray,
    green_yx: np.ndarray,
    transform: AlignmentTransform,
    shape: tuple[int, ...] | None = None,
    order: int = 1,
    cval: float = np.nan,
) -> np.ndarray:
    """Red intensities at green-frame positions (y, x), without warping the whole frame.

    Outside the red image the value is `cval` (NaN by default, so missing red is visible).
    """
    frame = np.asarray(red_frame)
    if frame.ndim != 2:
        raise InputError(f"sample_red_at needs a 2-D red frame, got shape {frame.shape}")
    pts = np.asarray(green_yx, dtype=float)
    red_yx = transform.map_points(pts, shape or frame.shape, inverse=True)
    flat = red_yx.reshape(-1, 2).T
    values = ndimage.map_coordinates(
        frame.astype(np.float32, copy=False), flat, order=order, mode="constant", cval=cval
    )
    return values.reshape(pts.shape[:-1])
