"""napari-catrack: calcium-imaging video analysis for napari.

Importing the package must stay cheap and Qt-free: widgets are imported lazily by
the npe2 manifest, never from here.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("napari-catrack")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
