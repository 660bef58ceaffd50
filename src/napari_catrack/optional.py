"""Optional heavy dependencies, and the one message when one is missing.

`pip install napari-catrack` installs everything (the full feature set). A lean install leaves
some out (docs/installation.md: `pip install --no-deps napari-catrack` plus the core
requirements, then the extras wanted); whatever needs a missing package says so in one line that
names the extra to install, and everything else keeps working (tests/core/test_optional.py).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from napari_catrack.errors import InputError

EXTRAS = {  # import name -> (pip name, extra)
    "torch": ("torch", "learned"),
    "torchvision": ("torchvision", "sam"),
    "segment_anything": ("segment-anything", "sam"),
    "pynwb": ("pynwb", "nwb"),
    "distributed": ("distributed", "batch"),
    "av": ("av", "video"),
}


class MissingDependency(InputError):
    """A feature's optional package is not installed (the message says how to install it)."""


def require(module: str, feature: str) -> ModuleType:
    """Import `module` for `feature`, or raise `MissingDependency` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if (exc.name or "").split(".")[0] != top:
            raise  # the package is there but broken: a real error, keep it
        pip, extra = EXTRAS.get(top, (top, "all"))
        raise MissingDependency(
            f"{feature} needs {pip}, which is not installed: pip install {pip} "
            f"(the napari-catrack[{extra}] extra)"
        ) from None
