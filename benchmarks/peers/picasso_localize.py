"""Run Picasso (picassosr) on a movie, in Picasso's own venv: identify + MLE fit.

    /work/venvs/picasso/bin/python picasso_localize.py movie.npy camera.json BOX MIN_NG out.csv

Writes frame, x, y (pixels, centre of pixel 0 at 0), photons, bg, sx, sy, lpx, lpy and prints
a JSON line with the timings. Camera: napari-catrack's camera.json keys mapped to Picasso's.
"""

import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def main() -> None:
    movie_path, camera_path, box, min_ng, out = sys.argv[1:6]
    from picasso import localize

    movie = np.load(movie_path, mmap_mode="r")  # Picasso fits np.memmap movies
    cam = json.loads(open(camera_path, encoding="utf-8").read())
    info = {
        "Baseline": cam["offset_adu"],
        "Sensitivity": cam["e_per_adu"],
        "Gain": cam["em_gain"],
        "Qe": cam["quantum_efficiency"],
        "Pixelsize": 108,
    }
    # warm-up on two frames: numba compiles on first use, which is not the fitting speed
    warm = localize.identify(movie[:2], float(min_ng), int(box), threaded=False, return_info=False)
    if len(warm):
        localize.fit(movie, camera_info=dict(info), identifications=warm, box=int(box),
                     fitting_method="gaussmle", multiprocess=False)  # fmt: skip
    t0 = time.perf_counter()
    ids = localize.identify(movie, float(min_ng), int(box), threaded=True, return_info=False)
    t1 = time.perf_counter()
    locs, _ = localize.fit(
        movie,
        camera_info=info,
        identifications=ids,
        box=int(box),
        fitting_method="gaussmle",
        multiprocess=False,  # one process, vectorised over spots by numba, like ours
    )
    t2 = time.perf_counter()
    cols = ["frame", "x", "y", "photons", "bg", "sx", "sy", "lpx", "lpy"]
    locs[cols].to_csv(out, index=False)
    print(json.dumps({"identify_s": t1 - t0, "fit_s": t2 - t1, "n": len(locs)}))


if __name__ == "__main__":
    main()
