"""The batch's own local dask workers end at once when their worker has closed.

Every `catrack batch` on a `LocalCluster` ended with dask's "Worker process still alive after
4.0 seconds, killing" (one per worker) once a worker had run torch: the nanny asks its worker to
close and kills the process 4 s later (`Nanny.close(timeout=5)` x 0.8, fixed in `SpecCluster`'s
close), and a process that imported torch takes 2-4 s (machine under load) after its worker
has closed just to tear the interpreter down (module teardown and the C++ libraries'
destructors, after the atexit handlers; measured: 0.2 s when it ends without them). Waiting
longer (closing the nannies with a 30 s timeout) took 9 s. dask/distributed#9100 reports the
same warning with CUDA workers.

`QuickExit`, a worker plugin the runner registers on the workers of its own `LocalCluster` only
(never on a `--scheduler` cluster's: those workers are not the batch's to end), ends the worker
process when the interpreter starts to finish, after its worker has closed cleanly (the
plugin's `teardown`, run by `Worker.close`): logging flushed, stdout and stderr flushed, then
`os._exit(0)`. Every result was already written and closed (files are written through a
temporary file and renamed) when its task returned; what is skipped is memory being freed.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys

from distributed.diagnostics.plugin import WorkerPlugin


def _exit_now() -> None:  # pragma: no cover - runs in a worker process as it ends
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or missing stream: nothing left to flush
            pass
    os._exit(0)


class QuickExit(WorkerPlugin):
    """Ends the worker's process without the interpreter's teardown once the worker closed."""

    name = "napari-catrack-quick-exit"

    def teardown(self, worker) -> None:  # pragma: no cover - runs in a worker process
        import multiprocessing

        if multiprocessing.parent_process() is None:  # a worker in the batch's own process
            return  # (never: the runner's workers are processes; kept safe all the same)
        atexit.register(_exit_now)  # registered last: runs first as the interpreter finishes
