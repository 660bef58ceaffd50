"""Detection scoring on every annotated worm image we have (shared by bench_detection_real.py).

Each case is one 2-D image (a max projection over z for the real volumes) with the annotated
neuron centres in (y, x) pixels and a matching radius of about one neuron radius.

Real data (``../shared/data/worm/targettrack``, README there):
- ``data_points``: 9 distinct two-channel volumes (ex2-ex6, gt and tar; ex3 gt and ex5 gt are one
  file, counted once; ex1 has no volume). Channel 0 (all nuclei, "red") is what detection runs on;
  channel 1 (sparser, "green") is scored too, against the same points, as a harder case where
  many annotated neurons are dim or absent. Truth: the non-NaN rows of ``pts_*.npy`` (x, y, z).
  Radius 4 px: ex1's label masks are about 8 voxels across.
- ``data_mask``: 2 one-channel crops with 13-label masks; truth: each present label's centroid,
  radius: the median label's equivalent radius in the projection.
Synthetic: the bundled sample (File > Open Sample > Moving worm = ``make_worm_recording(200,
seed=0)``, frame 0) and other seeds, radius 3 px.

ZephIR (``zephir/movie.mp4``, a lossy rendering of three max projections with burnt-in text):
every 32nd frame's xy panel against the 23 tracked neurons, only when PyAV is installed
(``zephir_cases``).

Counting in 2-D: neurons at different depths can project onto one spot. "achievable" is the size of
a greedy set of annotated points at least one matching radius apart in (y, x): points closer than
that cannot show as two maxima. Recall is reported over all annotated points and over the
achievable count. Precision counts a candidate as correct when it is matched (one-to-one,
Hungarian, within the radius) to an annotated point; neurons nobody annotated count against it,
so it is a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "worm" / "targettrack"
if not SHARED.exists():  # a worktree beside the main checkout: ../shared is one level higher
    SHARED = Path("/work/shared/data/worm/targettrack")

# Every constant of the automatic scale was chosen on these cases only; the rest are held out.
TUNING = {
    "tt-ex2-gt-red", "tt-ex2-tar-red", "tt-ex2-gt-green", "tt-ex2-tar-green", "mask-520",
    "synth-101", "synth-102",
}  # fmt: skip


@dataclass
class Case:
    name: str
    image: np.ndarray  # (Y, X) float32
    truth: np.ndarray  # (N, 2) y, x
    radius: float
    kind: str  # "real", "real-green" or "synthetic"


def achievable(truth: np.ndarray, radius: float) -> int:
    """Greedy count of annotated points pairwise >= `radius` apart (separable in 2-D)."""
    kept: list[np.ndarray] = []
    for p in truth:
        if all(np.hypot(*(p - q)) >= radius for q in kept):
            kept.append(p)
    return len(kept)


def match(found: np.ndarray, truth: np.ndarray, radius: float) -> int:
    """Number of one-to-one matches within `radius` (Hungarian on distances)."""
    if len(found) == 0 or len(truth) == 0:
        return 0
    d = np.linalg.norm(found[:, None] - truth[None], axis=2)
    r, c = linear_sum_assignment(np.where(d <= radius, d, 1e6))
    return int((d[r, c] <= radius).sum())


def in_annotated_region(found: np.ndarray, truth: np.ndarray, radius: float) -> np.ndarray:
    """Candidates inside the convex hull of the annotated points (grown by `radius`): the
    annotators marked head neurons only, so body nuclei outside say nothing about precision."""
    from scipy.spatial import Delaunay

    if len(found) == 0 or len(truth) < 3:
        return np.ones(len(found), bool)
    hull = Delaunay(truth)
    inside = hull.find_simplex(found) >= 0
    near = np.linalg.norm(found[:, None] - truth[None], axis=2).min(axis=1) <= 2 * radius
    return inside | near


def score(table, case: Case) -> dict:
    found = table[["y", "x"]].to_numpy(float)
    hit = match(found, case.truth, case.radius)
    n_in = int(in_annotated_region(found, case.truth, case.radius).sum())
    ach = achievable(case.truth, case.radius)
    n = len(found)
    return {
        "candidates": n,
        "annotated": len(case.truth),
        "achievable": ach,
        "matched": hit,
        "recall": hit / max(1, len(case.truth)),
        "recall_achievable": min(1.0, hit / max(1, ach)),
        "precision": hit / n if n else 0.0,
        "precision_in_region": hit / n_in if n_in else 0.0,
    }


def targettrack_cases() -> list[Case]:
    folder = SHARED / "data_points"
    if not folder.exists():
        return []
    cases: list[Case] = []
    for ex in ("ex2", "ex3", "ex4", "ex5", "ex6"):
        for which in ("gt", "tar"):
            if ex == "ex5" and which == "gt":
                continue  # the same file as ex3/frame_gt.npy
            vol = np.load(folder / ex / f"frame_{which}.npy").astype(np.float32)  # (C, X, Y, Z)
            pts = np.load(folder / ex / f"pts_{which}.npy")
            truth = pts[np.isfinite(pts).all(axis=1)][:, [1, 0]]  # (y, x)
            for ch, colour in ((0, "red"), (1, "green")):
                image = vol[ch].max(axis=2).T  # (Y, X)
                kind = "real" if ch == 0 else "real-green"
                cases.append(Case(f"tt-{ex}-{which}-{colour}", image, truth, 4.0, kind))
    return cases


def mask_cases() -> list[Case]:
    folder = SHARED / "data_mask"
    if not folder.exists():
        return []
    cases = []
    for sub, n in (("gt", 520), ("target", 619)):
        vol = np.load(folder / sub / f"frame_{n}.npy").astype(np.float32)  # (X, Y, Z)
        mask = np.load(folder / sub / f"mask_{n}.npy")
        labels = [v for v in np.unique(mask) if v > 0]
        truth, radii = [], []
        for v in labels:
            xyz = np.argwhere(mask == v)
            truth.append([xyz[:, 1].mean(), xyz[:, 0].mean()])
            area = len(np.unique(xyz[:, 0] * 10000 + xyz[:, 1]))  # projected footprint
            radii.append(np.sqrt(area / np.pi))
        radius = float(max(3.0, np.median(radii)))
        cases.append(Case(f"mask-{n}", vol.max(axis=2).T, np.array(truth), radius, "real"))
    return cases


def synthetic_cases(seeds=(101, 102, 103, 104)) -> list[Case]:
    from napari_catrack.synthetic import make_worm_recording

    rec = make_worm_recording(n_frames=200, seed=0)  # exactly File > Open Sample > Moving worm
    cases = [Case("sample-0", rec.red[0].astype(np.float32), rec.truth.red_positions[0], 3.0,
                  "synthetic")]  # fmt: skip
    for s in seeds:
        rec = make_worm_recording(n_frames=2, shape=(256, 256), n_neurons=30, seed=s)
        truth = rec.truth.red_positions[0][rec.truth.in_view[0]]
        cases.append(Case(f"synth-{s}", rec.red[0].astype(np.float32), truth, 3.0, "synthetic"))
    return cases


def zephir_cases(every: int = 32) -> list[Case]:
    """ZephIR's movie (needs PyAV, `pip install av`; none without it): the xy max projection
    panel (the top-left 200 x 512 px of each 292 x 604 frame, where the tracked positions land at
    x * 512, y * 200), the burnt-in frame number and stimulus blanked, every `every`-th frame,
    against the 23 tracked neurons of annotations-g.h5 (more neurons are visible: precision is a
    lower bound). Radius 4 px, as for targettrack: the blob scale reads about 3 px here (a
    blob about 7 px across at half maximum)."""
    movie = SHARED.parent / "zephir" / "movie.mp4"
    try:
        import av
        import h5py
    except ImportError:
        return []
    if not movie.exists():
        return []
    with h5py.File(movie.parent / "annotations-g.h5") as f:
        t_idx, x, y = f["t_idx"][:], f["x"][:], f["y"][:]
    cases = []
    with av.open(str(movie)) as container:
        for t, frame in enumerate(container.decode(video=0)):
            if t % every:
                continue
            image = frame.to_ndarray(format="rgb24")[:200, :512, 1].astype(np.float32)
            image[:45, :80] = 0  # burnt-in text
            sel = t_idx == t
            truth = np.column_stack([y[sel] * 200, x[sel] * 512])
            cases.append(Case(f"zephir-{t}", image, truth, 4.0, "real-zephir"))
    return cases


def zoomed(case: Case, factor: float = 2.0) -> Case:
    """The same image at `factor` x the magnification (linear interpolation): a scale test."""
    from scipy import ndimage as ndi

    image = ndi.zoom(case.image, factor, order=1)
    truth = case.truth * factor + (factor - 1) / 2  # pixel centres stay centres
    return Case(f"{case.name}-x{factor:g}", image, truth, case.radius * factor, case.kind)


def all_cases() -> list[Case]:
    cases = targettrack_cases() + mask_cases() + zephir_cases() + synthetic_cases()
    by_name = {c.name: c for c in cases}
    for name in ("tt-ex4-gt-red", "synth-103"):  # held out: neurons twice as large
        if name in by_name:
            cases.append(zoomed(by_name[name]))
    return cases


# ---- 3-D: (Z, Y, X) volumes against the 3-D annotations -----------------------------------------

# z spacing in xy pixels. targettrack: a nucleus is about 3 planes across at half maximum and about
# 6 px in x, y (measured on ex2, a tuning volume). data_mask: the source's voxel size
# (0.1625, 0.1625, 1.5) um.
Z_STEP = {"targettrack": 2.0, "data_mask": 1.5 / 0.1625}


@dataclass
class Case3D:
    name: str
    volume: np.ndarray  # (Z, Y, X) float32
    truth: np.ndarray  # (N, 3) z, y, x voxels
    radius: float  # in xy pixels, z scaled by z_step
    z_step: float


def match_3d(found: np.ndarray, truth: np.ndarray, radius: float, z_step: float) -> int:
    scale = np.array([z_step, 1.0, 1.0])
    return match(found * scale, truth * scale, radius)


def cases_3d() -> list[Case3D]:
    out: list[Case3D] = []
    folder = SHARED / "data_points"
    if folder.exists():
        for ex in ("ex2", "ex3", "ex4", "ex5", "ex6"):
            for which in ("gt", "tar"):
                if ex == "ex5" and which == "gt":
                    continue
                vol = np.load(folder / ex / f"frame_{which}.npy")[0].astype(np.float32)
                pts = np.load(folder / ex / f"pts_{which}.npy")
                truth = pts[np.isfinite(pts).all(axis=1)][:, ::-1]  # (z, y, x)
                out.append(Case3D(f"tt-{ex}-{which}-red", vol.transpose(2, 1, 0), truth, 4.0,
                                  Z_STEP["targettrack"]))  # fmt: skip
    for c in mask_cases():
        n = c.name.split("-")[1]
        sub = "gt" if n == "520" else "target"
        mask = np.load(SHARED / "data_mask" / sub / f"mask_{n}.npy")
        vol = np.load(SHARED / "data_mask" / sub / f"frame_{n}.npy").astype(np.float32)
        truth = np.array([np.argwhere(mask == v).mean(axis=0)[::-1] for v in np.unique(mask)[1:]])
        out.append(Case3D(c.name, vol.transpose(2, 1, 0), truth, c.radius, Z_STEP["data_mask"]))
    return out
