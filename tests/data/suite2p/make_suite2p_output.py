"""Regenerate the tiny suite2p outputs the import tests read, with suite2p itself.

    python tests/data/suite2p/make_suite2p_output.py [--python /work/venvs/suite2p/bin/python]
                                                     [--layout 1.x|old]

Makes a small synthetic two-photon movie (napari_catrack.synthetic, 300 frames of 64 x 64,
6 cells), runs suite2p's full pipeline on it in the given interpreter (a separate venv where
`pip install suite2p` was run; suite2p is never a dependency of napari-catrack), and copies the
small result files of plane0 into tests/data/suite2p/<layout>/plane0 (binary movie files are not
kept). The suite2p version used is written to VERSION.txt beside them.

Made with: suite2p 1.1.0 (layout "1.x": stat, F, Fneu, spks, iscell, ops, db, settings,
reg_outputs, detect_outputs) and suite2p 0.14.6 with numpy < 2 (layout "old": stat, F, Fneu, spks, iscell,
ops).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEEP = ("stat.npy", "F.npy", "Fneu.npy", "spks.npy", "iscell.npy", "ops.npy", "db.npy",
        "settings.npy", "reg_outputs.npy", "detect_outputs.npy")  # fmt: skip

RUN_NEW = """
import sys, numpy as np, suite2p
from suite2p import default_settings, default_db, run_s2p
data, out = sys.argv[1], sys.argv[2]
db = default_db(); db.update(data_path=[data], save_path0=out, nplanes=1, nchannels=1)
s = default_settings(); s['fs'] = 30.0; s['tau'] = 0.7
s['detection']['threshold_scaling'] = 0.5; s['registration']['block_size'] = (32, 32)
run_s2p(db=db, settings=s)
from importlib.metadata import version; print('SUITE2P_VERSION=' + version('suite2p'))
"""

RUN_OLD = """
import sys, numpy as np, suite2p
from suite2p import default_ops, run_s2p
data, out = sys.argv[1], sys.argv[2]
ops = default_ops(); ops.update(fs=30.0, tau=0.7, threshold_scaling=0.5, nplanes=1, nchannels=1, block_size=[32, 32])
run_s2p(ops=ops, db={'data_path': [data], 'save_path0': out})
from importlib.metadata import version; print('SUITE2P_VERSION=' + version('suite2p'))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default="/work/venvs/suite2p/bin/python")
    ap.add_argument("--layout", choices=("1.x", "old"), default="1.x")
    args = ap.parse_args()
    import tifffile

    from napari_catrack.synthetic import make_two_photon_movie

    mov = make_two_photon_movie(300, (64, 64), n_cells=6, seed=5, silent_fraction=0,
                                cell_brightness=(80, 150), event_rate_hz=(0.3, 0.8))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        tifffile.imwrite(data / "movie.tif", mov.movie)
        code = RUN_NEW if args.layout == "1.x" else RUN_OLD
        res = subprocess.run([args.python, "-c", code, str(data), tmp], capture_output=True, text=True)  # fmt: skip
        if res.returncode:
            sys.exit(f"suite2p failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
        version = res.stdout.split("SUITE2P_VERSION=")[-1].split()[0]
        plane = Path(tmp) / "suite2p" / "plane0"
        dest = HERE / args.layout / "plane0"
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for name in KEEP:
            if (plane / name).exists():
                shutil.copy(plane / name, dest / name)
        (HERE / args.layout / "VERSION.txt").write_text(f"suite2p {version}\n")
        print(f"suite2p {version}: {sorted(p.name for p in dest.iterdir())}", file=sys.stderr)


if __name__ == "__main__":
    main()
