"""Run a catrack command (or Python code) in a child process that stops at a chosen point of its
writing and says "paused", for the test to SIGKILL it exactly there (no timing involved):

    python -m tests.core._kill_hook POINT N -- catrack-argv...   (or: -- -c CODE)

POINT: "h5", the N-th write into an HDF5 temp file (half a file written); "replace", every temp
file finished, just before the first rename; "rename", just before the N-th rename of a set's
files (`atomic._place_all`: a backup moved aside or a new file placed); "none", run as usual.
"""

from __future__ import annotations

import os
import sys
import time


def _pause() -> None:
    print("paused", flush=True)
    time.sleep(3600)


def install(point: str, n: int) -> None:
    if point == "h5":
        from napari_catrack.io import h5write

        real = h5write._Unfailing.write
        count = [0]

        def write(self, data):
            count[0] += 1
            if count[0] == n:
                _pause()
            return real(self, data)

        h5write._Unfailing.write = write
    elif point == "replace":
        from napari_catrack.io import atomic

        place, place_all = atomic._place, atomic._place_all

        def one(tmp, path):
            _pause()
            place(tmp, path)

        def every(pending):
            _pause()
            place_all(pending)

        atomic._place, atomic._place_all = one, every
    elif point == "rename":
        real_replace = os.replace
        count = [0]

        def replace(src, dst, **kwargs):
            frame = sys._getframe(1)  # (not in a comprehension: that is a frame of its own)
            if frame.f_code.co_name == "replace":  # atomic.replace (retries on Windows)
                frame = frame.f_back
            if frame.f_code.co_name in ("_place_all", "_rename"):  # (before/after h15's `_rename`)
                count[0] += 1
                if count[0] == n:
                    _pause()
            return real_replace(src, dst, **kwargs)

        os.replace = replace


if __name__ == "__main__":
    point, n, argv = sys.argv[1], int(sys.argv[2]), sys.argv[4:]
    install(point, n)
    if argv[0] == "-c":
        exec(argv[1])
    else:
        from napari_catrack.cli import main

        sys.exit(main(argv))
