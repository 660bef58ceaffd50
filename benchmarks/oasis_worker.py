"""OASIS deconvolution of many traces, run in the SEPARATE venv that has oasis-deconv.

Called by bench_transients_lodo.py as a subprocess (oasis-deconv is a peer we compare against,
never a project dependency):

    /work/venvs/oasis/bin/python benchmarks/oasis_worker.py IN.npz OUT.npz

IN.npz holds `trace_<i>` (1-D dF/F) for i = 0..n-1. OUT.npz gets, per trace, the inferred spike
train `s_<i>` (OASIS AR(1), L1 penalty, noise and decay estimated per trace by oasis itself:
`deconvolve(y, penalty=1)`), and `sn_<i>`, the noise SD oasis estimated. Imports only numpy and
oasis, so it runs without napari-catrack installed.
"""

from __future__ import annotations

import sys

import numpy as np


def main() -> int:
    from oasis.functions import GetSn, deconvolve

    src, dst = sys.argv[1], sys.argv[2]
    data = np.load(src)
    n = len([k for k in data.files if k.startswith("trace_")])
    out = {}
    for i in range(n):
        y = np.asarray(data[f"trace_{i}"], dtype=np.float64)
        y = np.where(np.isfinite(y), y, np.nanmedian(y))
        s = deconvolve(y, penalty=1).s
        # oasis's own noise estimate (PSD-based, as CaImAn): the unit of the thresholds
        out[f"s_{i}"] = s.astype(np.float32)
        out[f"sn_{i}"] = np.float64(GetSn(y))
    np.savez_compressed(dst, **out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
