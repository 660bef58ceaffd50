"""Regenerate the tiny Minian outputs the import tests read, with xarray as Minian saves them.

    /work/venvs/minian-format/bin/python tests/data/minian/make_minian_output.py

Minian itself does not install from PyPI; its `save_minian(var.rename(name), dpath)` is
`var.to_dataset().to_zarr(dpath/<name>.zarr)` (minian/utilities.py), and `open_minian` also reads
one netCDF file. This script does exactly that with xarray + zarr 2 (+ h5netcdf for the netCDF
file) in a separate venv (`pip install xarray "zarr<3" h5netcdf`), on a small synthetic result:
4 units of 24 x 32 pixels, 50 frames, unit ids 3, 5, 8, 13. Writes tests/data/minian/zarr/ and
tests/data/minian/minian.nc; versions in VERSION.txt.
"""

from pathlib import Path

import numpy as np
import xarray as xr

HERE = Path(__file__).resolve().parent
rng = np.random.default_rng(0)
units, h, w, t = np.array([3, 5, 8, 13]), 24, 32, 50
yy, xx = np.mgrid[0:h, 0:w]
centres = np.array([[6, 6], [6, 24], [17, 10], [18, 25]])
A = np.stack([np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0) for cy, cx in centres])
S = (rng.random((4, t)) < 0.08).astype(float)
C = np.stack([np.convolve(s, np.exp(-np.arange(30) / 6.0))[:t] for s in S]) * 10 + 1
coords_a = {"unit_id": units, "height": np.arange(h), "width": np.arange(w)}
coords_c = {"unit_id": units, "frame": np.arange(t)}
arrays = {
    "A": xr.DataArray(A, dims=("unit_id", "height", "width"), coords=coords_a),
    "C": xr.DataArray(C, dims=("unit_id", "frame"), coords=coords_c),
    "S": xr.DataArray(S, dims=("unit_id", "frame"), coords=coords_c),
}
for name, var in arrays.items():  # save_minian: var.rename(name).to_dataset().to_zarr(...)
    var.rename(name).to_dataset().to_zarr(HERE / "zarr" / f"{name}.zarr", mode="w")
xr.merge([v.rename(n) for n, v in arrays.items()]).to_netcdf(HERE / "minian.nc", engine="h5netcdf")
import h5netcdf  # noqa: E402
import zarr  # noqa: E402

(HERE / "VERSION.txt").write_text(
    f"xarray {xr.__version__}, zarr {zarr.__version__}, h5netcdf {h5netcdf.__version__}\n"
)
np.save(HERE / "truth_C.npy", C)
