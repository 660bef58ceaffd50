"""A worm that crosses itself: its centerline as a walk through the skeleton's junctions.

When the body crosses itself (an omega turn, a loop), the mask encloses a hole and the
skeleton is a small graph: two ends (head and tail), a junction where the body crosses, and
branches between them. The centerline uses every branch exactly once (an Euler trail from one
end to the other), going as straight as possible through each junction, the way a body passes
over itself. Spurs shorter than half a body width are pruned first, and two junctions closer
than a body width (an X skeletonises as two Ts) count as one crossing.

A worm whose head (or tail) presses against its own body closes a loop without crossing: the
skeleton is a "P", one free end, a stem, and a loop back to the junction where the tip touches
the body. Its centerline is the same walk from the free end, through every branch once, ending
at that junction (the tip is hidden in the contact; the path is not extended past it). When the
skeleton forms neither graph (three or more ends, no junction), None is returned and the caller
falls back to fitting a neighbouring frame's centerline.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

_EIGHT = np.ones((3, 3), bool)


def _order_branch(pixels: np.ndarray) -> np.ndarray:
    """Pixels of a simple 8-connected path, ordered from one end to the other."""
    if len(pixels) <= 2:
        return pixels
    index = {tuple(p): i for i, p in enumerate(pixels)}
    nbrs = []
    for y, x in pixels:
        nbrs.append([index[(y + dy, x + dx)] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                     if (dy or dx) and (y + dy, x + dx) in index])  # fmt: skip
    ends = [i for i, n in enumerate(nbrs) if len(n) <= 1]
    start = ends[0] if ends else 0
    order, seen = [start], {start}
    while True:
        nxt = [j for j in nbrs[order[-1]] if j not in seen]
        if not nxt:
            break
        # prefer 4-neighbours (the next pixel along the path, not a diagonal shortcut)
        y, x = pixels[order[-1]]
        nxt.sort(key=lambda j: abs(pixels[j][0] - y) + abs(pixels[j][1] - x))
        order.append(nxt[0])
        seen.add(nxt[0])
    return pixels[order]


def crossing_path(mask: np.ndarray, width: float) -> tuple[np.ndarray, bool] | None:
    """((M, 2) pixel path from one end through every branch, pressed), or None.

    pressed: the path's last end is a junction where a tip presses against the body (the "P"
    of the module docstring), not a free tip."""
    from skimage.morphology import skeletonize

    skel = skeletonize(mask)
    deg = ndi.convolve(skel.astype(np.uint8), _EIGHT.astype(np.uint8), mode="constant") - 1
    junction = skel & (deg >= 3)
    if not junction.any():
        return None
    jlab, nj = ndi.label(ndi.binary_dilation(junction, _EIGHT) & skel, _EIGHT)
    branches = skel & (jlab == 0)
    blab, nb = ndi.label(branches, _EIGHT)
    if nb == 0 or nb > 12:
        return None
    # each branch: ordered pixels and the node at each end (junction id > 0, or -1 = free end)
    grown = ndi.grey_dilation(jlab, footprint=_EIGHT)
    edges = []
    for b in range(1, nb + 1):
        pix = _order_branch(np.argwhere(blab == b))
        nodes = []
        for end in (pix[0], pix[-1]):
            j = int(grown[end[0], end[1]])
            nodes.append(j if j > 0 else -1)
        if len(pix) == 1:
            nodes = [nodes[0], nodes[0]]
        edges.append([pix, nodes])
    # a crossing often skeletonises as two junctions joined by a short branch: one node
    parent = list(range(nj + 1))

    def root(j):
        while parent[j] != j:
            j = parent[j]
        return j

    kept = []
    for e in edges:
        a, b = e[1]
        if a > 0 and b > 0 and root(a) != root(b) and len(e[0]) < 0.75 * width:
            parent[root(a)] = root(b)
        else:
            kept.append(e)
    edges = [[pix, [root(j) if j > 0 else -1 for j in nodes]] for pix, nodes in kept]
    # prune short spurs (a free end near a junction), longest-first kept
    free = [e for e in edges if -1 in e[1]]
    for e in sorted(free, key=lambda e: len(e[0])):
        n_free = sum(-1 in x[1] for x in edges)
        if n_free > 2 and len(e[0]) < 0.5 * width and e[1].count(-1) == 1:
            edges = [x for x in edges if x is not e]
    ends = [(i, k) for i, (_, nodes) in enumerate(edges) for k in (0, 1) if nodes[k] == -1]
    if len(ends) not in (1, 2):
        return None
    pressed = len(ends) == 1  # the trail ends at a junction: a tip touching the body

    def direction(pix, at_start: bool) -> np.ndarray:
        k = max(2, min(len(pix) - 1, int(width)))
        seg = pix[:k] if at_start else pix[-k:][::-1]
        d = seg[0] - seg[-1]  # pointing out of the branch at that end
        return d / (np.linalg.norm(d) + 1e-9)

    best: tuple[float, list] | None = None

    def walk(node, used, trail, cost, incoming):
        nonlocal best
        if len(used) == len(edges):
            if (node == -1 or pressed) and (best is None or cost < best[0]):
                best = (cost, list(trail))
            return
        if node == -1 and trail:
            return
        for i, (pix, nodes) in enumerate(edges):
            if i in used:
                continue
            for k in (0, 1):
                if nodes[k] != node:
                    continue
                out = -direction(pix, at_start=(k == 0))  # direction of travel into the branch
                turn = 0.0 if incoming is None else float(np.arccos(np.clip(out @ incoming, -1, 1)))
                seq = pix if k == 0 else pix[::-1]
                exit_dir = direction(pix, at_start=(k == 1))
                used.add(i)
                trail.append(seq)
                walk(nodes[1 - k], used, trail, cost + turn, exit_dir)
                trail.pop()
                used.discard(i)

    start_edge, start_k = ends[0]
    pix, nodes = edges[start_edge]
    seq = pix if start_k == 0 else pix[::-1]
    walk(nodes[1 - start_k], {start_edge}, [seq], 0.0, direction(pix, at_start=(start_k == 1)))
    if best is None:
        return None
    return np.concatenate([seq.astype(float) for seq in best[1]]), pressed
