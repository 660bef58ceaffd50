"""Footprints held sparse: a (pixels x components) scipy CSC matrix and the frame's shape.

A cell covers a few hundred pixels of a frame of a million: 2,000 ImageJ ROIs on a 1,024² movie
were 8.4 GB as a dense (K, Y, X) float32 stack and are a few MB this way (CaImAn keeps its `A`
and suite2p its `stat` pixel lists for the same reason). Everything the sources step does with
footprints (peak normalisation, centroids, area, the label image, the session file, the
footprints.h5 file, the NWB PlaneSegmentation) works on the non-zero entries, or densifies one
component at a time. `np.asarray(footprints)` still gives the dense (K, Y, X) stack for a caller
that needs it (small movies; tests), at that cost.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from scipy import sparse

TILE = 128  # footprints.h5 tile (chunk) side: a cell's box touches one to four tiles


class Footprints:
    """K footprints of a (Y, X) frame; `matrix` is (Y*X, K) CSC float32, column k = component k
    (row-major pixel index y * X + x, as `np.ravel`)."""

    __slots__ = ("frame_shape", "matrix")

    def __init__(self, matrix, frame_shape: Sequence[int]) -> None:
        self.frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        m = sparse.csc_matrix(matrix, dtype=np.float32)
        if m.shape[0] != self.frame_shape[0] * self.frame_shape[1]:
            raise ValueError(f"{m.shape[0]} pixel rows for a {self.frame_shape} frame")
        self.matrix = m

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def from_dense(cls, footprints) -> Footprints:
        """From a (K, Y, X) stack (one component at a time: no second dense copy)."""
        if isinstance(footprints, Footprints):
            return footprints
        fp = np.asarray(footprints)
        if fp.ndim != 3:
            raise ValueError(f"footprints are (K, Y, X), not {fp.shape}")
        k, h, w = fp.shape
        rows = [np.flatnonzero(fp[i]) for i in range(k)]
        values = [fp[i].ravel()[r] for i, r in enumerate(rows)]
        return cls.from_pixels(rows, (h, w), values)

    @classmethod
    def from_pixels(
        cls, pixels: Sequence[np.ndarray], frame_shape: Sequence[int], values=None
    ) -> Footprints:
        """From K flat pixel-index lists (value 1, or `values[k]` per pixel): ImageJ masks."""
        n = np.array([len(p) for p in pixels], np.int64)
        indptr = np.concatenate([[0], np.cumsum(n)])
        rows = np.concatenate([np.asarray(p, np.int64) for p in pixels]) if len(pixels) else np.zeros(0, np.int64)  # fmt: skip
        # (no components: no arrays to concatenate; an empty sources step or footprints.h5)
        data = np.ones(rows.size, np.float32) if values is None or not len(pixels) else np.concatenate([np.asarray(v, np.float32) for v in values])  # fmt: skip
        size = int(frame_shape[0]) * int(frame_shape[1])
        m = sparse.csc_matrix((data, rows, indptr), shape=(size, len(pixels)))
        m.sort_indices()
        return cls(m, frame_shape)

    @classmethod
    def from_boxes(
        cls, boxes: Sequence[tuple[np.ndarray, int, int]], frame_shape: Sequence[int]
    ) -> Footprints:
        """From K (patch, y0, x0): each footprint is the (h, w) `patch` placed at (y0, x0), 0
        elsewhere (a component found in one patch of the extraction)."""
        h, w = int(frame_shape[0]), int(frame_shape[1])
        rows, data, n = [], [], []
        for box, y0, x0 in boxes:
            by, bx = np.nonzero(box)
            rows.append((by + y0) * w + (bx + x0))
            data.append(np.asarray(box[by, bx], np.float32))
            n.append(by.size)
        indptr = np.concatenate([[0], np.cumsum(np.asarray(n, np.int64))])
        r = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
        d = np.concatenate(data) if data else np.zeros(0, np.float32)
        return cls(sparse.csc_matrix((d, r, indptr), shape=(h * w, len(n))), (h, w))

    # --- array-like -----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.matrix.shape[1], *self.frame_shape)

    @property
    def ndim(self) -> int:
        return 3

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def __len__(self) -> int:
        return self.matrix.shape[1]

    def __repr__(self) -> str:
        return f"Footprints({len(self)} components, {self.frame_shape[0]}x{self.frame_shape[1]} px, {self.matrix.nnz} non-zero)"  # fmt: skip

    def component(self, k: int) -> np.ndarray:
        """Footprint k as a dense (Y, X) float32 image (one at a time)."""
        col = self.matrix[:, [int(k)]]
        out = np.zeros(self.frame_shape[0] * self.frame_shape[1], np.float32)
        out[col.indices] = col.data
        return out.reshape(self.frame_shape)

    def __iter__(self) -> Iterator[np.ndarray]:
        for k in range(len(self)):
            yield self.component(k)

    def __getitem__(self, key):
        """An int: one dense (Y, X) footprint; a slice, list or index array: a Footprints."""
        if isinstance(key, (int, np.integer)):
            k = int(key)
            return self.component(k + len(self) if k < 0 else k)
        idx = np.arange(len(self))[key]
        return Footprints(self.matrix[:, idx], self.frame_shape)

    def toarray(self) -> np.ndarray:
        """The dense (K, Y, X) float32 stack: K full frames (what sparse footprints avoid)."""
        return self.matrix.T.toarray().reshape(self.shape).astype(np.float32, copy=False)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.toarray()
        return out if dtype is None else out.astype(dtype, copy=False)

    # --- what the sources step computes from footprints -------------------------------------
    def peaks(self) -> np.ndarray:
        """(K,) float32 peak of each footprint (0 counts: a negative-only one peaks at 0), as
        the dense `fp.reshape(k, -1).max(axis=1)`."""
        if not len(self):
            return np.zeros(0, np.float32)
        return np.asarray(self.matrix.max(axis=0).toarray(), np.float32).ravel()

    def _columns(self) -> np.ndarray:
        """The component of each stored entry (CSC order)."""
        return np.repeat(np.arange(len(self)), np.diff(self.matrix.indptr))

    def scaled(self, factor: np.ndarray) -> Footprints:
        """Each footprint divided by `factor[k]` (float32, as the dense division)."""
        m = self.matrix.copy()
        m.data = m.data / np.asarray(factor, np.float32)[self._columns()]
        return Footprints(m, self.frame_shape)

    def area(self, level: float) -> np.ndarray:
        """(K,) pixels above `level` of each footprint's peak (`evaluation.area`)."""
        thr = level * self.peaks()
        keep = self.matrix.data > thr[self._columns()]
        return np.bincount(self._columns()[keep], minlength=len(self)).astype(np.int64)

    def centroids(self) -> np.ndarray:
        """(K, 2) intensity-weighted (y, x) centres (`patches.centroids`, in float64)."""
        m = self.matrix
        ys, xs = np.divmod(m.indices.astype(np.int64), self.frame_shape[1])
        cols = self._columns()
        v = m.data.astype(np.float64)
        s = np.maximum(np.bincount(cols, v, len(self)), 1e-12)
        cy = np.bincount(cols, v * ys, len(self)) / s
        cx = np.bincount(cols, v * xs, len(self)) / s
        return np.stack([cy, cx], 1) if len(self) else np.zeros((0, 2))

    def labels(self, labels: np.ndarray, level: float) -> np.ndarray:
        """(Y, X) int32 image: each pixel takes `labels[k]` of the footprint strongest there
        relative to its peak, where that exceeds `level` (0 = background); the same image as
        the dense argmax over (K, Y, X), ties to the lower k."""
        out = np.zeros(self.frame_shape[0] * self.frame_shape[1], np.int32)
        if not len(self) or not self.matrix.nnz:
            return out.reshape(self.frame_shape)
        m = self.matrix
        cols = self._columns()
        rel = m.data / np.maximum(self.peaks(), 1e-12)[cols]
        pix = m.indices
        order = np.lexsort((cols, -rel, pix))  # by pixel, strongest first, then lower k
        pix, rel, cols = pix[order], rel[order], cols[order]
        first = np.ones(pix.size, bool)
        first[1:] = pix[1:] != pix[:-1]
        pix, rel, cols = pix[first], rel[first], cols[first]
        hit = rel > level
        out[pix[hit]] = np.asarray(labels)[cols[hit]]
        return out.reshape(self.frame_shape)

    def cropped(self, ys: tuple[int, int], xs: tuple[int, int]) -> Footprints:
        """The footprints in the window rows ys, columns xs (pixels outside dropped)."""
        h, w = self.frame_shape
        (y0, y1), (x0, x1) = ys, xs
        keep = (np.arange(h)[:, None] >= y0) & (np.arange(h)[:, None] < y1) & (np.arange(w) >= x0) & (np.arange(w) < x1)  # fmt: skip
        rows = np.flatnonzero(keep.ravel())
        return Footprints(self.matrix[rows, :], (y1 - y0, x1 - x0))

    def padded(self, frame_shape: Sequence[int], ys: tuple[int, int], xs: tuple[int, int]) -> Footprints:  # fmt: skip
        """These footprints (of a window) placed at rows ys[0].., columns xs[0].. of a larger
        frame, 0 elsewhere (`ValidRegion.pad` for footprints)."""
        m = self.matrix.copy()
        y, x = np.divmod(m.indices.astype(np.int64), self.frame_shape[1])
        m = sparse.csc_matrix(
            (m.data, (y + ys[0]) * int(frame_shape[1]) + (x + xs[0]), m.indptr),
            shape=(int(frame_shape[0]) * int(frame_shape[1]), len(self)),
        )
        return Footprints(m, frame_shape)

    def replaced(self, k: int, image: np.ndarray) -> Footprints:
        """These footprints with component k replaced by the dense (Y, X) `image`."""
        m = self.matrix
        rows = np.flatnonzero(image)
        vals = np.asarray(image, np.float32).ravel()[rows]
        a, b = m.indptr[k], m.indptr[k + 1]
        data = np.concatenate([m.data[:a], vals, m.data[b:]])
        indices = np.concatenate([m.indices[:a], rows, m.indices[b:]])
        indptr = m.indptr.astype(np.int64).copy()
        indptr[k + 1 :] += rows.size - (b - a)
        return Footprints(sparse.csc_matrix((data, indices, indptr), shape=m.shape), self.frame_shape)  # fmt: skip

    def appended(self, other: Footprints) -> Footprints:
        """These footprints followed by `other`'s (the same frame)."""
        return Footprints(sparse.hstack([self.matrix, other.matrix], format="csc"), self.frame_shape)  # fmt: skip

    def write_h5(self, group, name: str = "footprints", **options) -> None:
        """Dataset `name` (K, Y, X) float32 in an h5py group, in tiles of (1, TILE, TILE): only
        the tiles a component covers are written (its bounding box); the others are never
        stored and read as 0 (the dataset's fill value). A (1, Y, X) chunk per component, as
        before session 14, had HDF5 gzip 4 MB of zeros per cell at 1,024² (146 s of the
        2,000-ROI import)."""
        k, h, w = self.shape
        chunks = (1, min(h, TILE), min(w, TILE)) if k and h and w else None
        ds = group.create_dataset(name, shape=(k, h, w), dtype=np.float32, chunks=chunks, fillvalue=0.0, **options)  # fmt: skip
        m = self.matrix
        for i in range(k):
            rows, vals = m.indices[m.indptr[i] : m.indptr[i + 1]], m.data[m.indptr[i] : m.indptr[i + 1]]  # fmt: skip
            if not rows.size:
                continue
            y, x = np.divmod(rows.astype(np.int64), w)
            y0, x0 = y.min(), x.min()
            box = np.zeros((y.max() - y0 + 1, x.max() - x0 + 1), np.float32)
            box[y - y0, x - x0] = vals
            ds[i, y0 : y0 + box.shape[0], x0 : x0 + box.shape[1]] = box

    # --- the session file ------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The CSC parts as session arrays (and the frame shape, for `from_arrays`)."""
        m = self.matrix
        return {
            "footprint_data": m.data.astype(np.float32),
            "footprint_indices": m.indices.astype(np.int64),
            "footprint_indptr": m.indptr.astype(np.int64),
            "footprint_shape": np.array(self.shape, np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays) -> Footprints:
        k, h, w = (int(v) for v in np.asarray(arrays["footprint_shape"]))
        m = sparse.csc_matrix(
            (
                np.asarray(arrays["footprint_data"], np.float32),
                np.asarray(arrays["footprint_indices"]),
                np.asarray(arrays["footprint_indptr"]),
            ),
            shape=(h * w, k),
        )
        return cls(m, (h, w))


SESSION_ARRAYS = ("footprint_data", "footprint_indices", "footprint_indptr", "footprint_shape")


def as_footprints(footprints) -> Footprints:
    """`footprints` as Footprints (a dense (K, Y, X) stack is converted)."""
    return footprints if isinstance(footprints, Footprints) else Footprints.from_dense(footprints)
