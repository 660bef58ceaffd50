"""Smoke test of an INSTALLED napari-catrack (run it outside the source tree, in a fresh
environment where the wheel was installed): the reader, the sample data, every widget docks, the
CLI answers. `scripts/check_release.sh` builds the wheel and runs this in a new virtualenv."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def main() -> int:
    import napari_catrack

    here = Path(napari_catrack.__file__).resolve()
    assert "site-packages" in str(here), f"not the installed package: {here}"
    print(f"napari-catrack {napari_catrack.__version__} from {here.parent}")

    # the CLI entry point
    out = subprocess.run(["catrack", "--version"], capture_output=True, text=True, check=True)
    print(out.stdout.strip())

    # the npe2 manifest is found through the entry point and validates
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("napari-catrack")
    widgets = [w.display_name for w in manifest.contributions.widgets]
    samples = [s.key for s in manifest.contributions.sample_data]
    print(f"{len(widgets)} widgets, samples {samples}")

    # the reader on a small two-channel TIFF
    from napari_catrack._reader import get_reader
    from napari_catrack.io.tiff import write_movie_tiff

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        green = rng.integers(0, 1000, (5, 16, 20), dtype=np.uint16)
        path = write_movie_tiff(Path(tmp) / "two.tif", green, green + 1, fps=5.0)
        layers = get_reader(str(path))(str(path))
        assert len(layers) == 2 and layers[0][0].shape == (5, 16, 20), layers
        print(f"reader: {[m.get('name') for _, m, _ in layers]}")

    # a viewer: every sample opens and every widget docks
    import napari

    viewer = napari.Viewer(show=False)
    try:
        for key in samples:
            viewer.open_sample("napari-catrack", key)
        print(f"samples opened: {len(viewer.layers)} layers")
        for title in widgets:
            _, widget = viewer.window.add_plugin_dock_widget("napari-catrack", title)
            assert widget is not None, title
        print(f"widgets docked: {len(widgets)}")
    finally:
        viewer.close()
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
