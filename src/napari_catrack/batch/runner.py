"""`catrack batch`: every recording of a manifest as one task on dask.distributed.

A recording is the unit of work and of failure: its task runs all of its steps
(`recording.run_recording`), so a crashed or killed worker costs only the recording it was
running (that task is not retried by default: a recording that kills its worker, by running out
of memory for example, would kill the next one too); every other recording goes on. A failure is
a row of `DIR/report.csv`, never the end of the batch, and a rerun does only what is missing. A
cancelled batch (the widget's Cancel, Ctrl-C) writes `report.csv` too: the finished recordings'
rows and a `cancelled` row for each other.

By default a `LocalCluster` of worker processes on this machine (one thread each: the steps'
array work is single-threaded per worker so N workers use N cores without oversubscription);
`scheduler="tcp://host:8786"` uses a running cluster instead (dask-jobqueue for SLURM/PBS,
dask-kubernetes: docs/batch.md). The worker memory limit makes dask pause, then restart, a worker
that exceeds it; the steps read recordings frame chunk by frame chunk, so it bounds memory without
bounding recording size.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from napari_catrack.batch.manifest import Manifest
from napari_catrack.batch.recording import REPORT_COLUMNS, SET_ASIDE, run_recording
from napari_catrack.errors import Cancelled, InputError
from napari_catrack.text import counted

POOLED = {"cells": "cells.csv", "transients": "transients.csv"}
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


CANCELLED = "cancelled"  # the status of a recording a cancelled batch did not finish


class BatchCancelled(Cancelled):
    """The batch was cancelled after `done` of `total` recordings finished: `report` holds their
    rows (their files are kept) and one `cancelled` row per recording it did not finish, as
    written to `report_path` (`report.csv`)."""

    def __init__(
        self, message: str, report: pd.DataFrame, done: int, total: int, report_path=None
    ) -> None:
        super().__init__(message)
        self.report, self.done, self.total = report, done, total
        self.report_path = report_path


@dataclass
class BatchResult:
    output: Path
    report: pd.DataFrame
    pooled: dict[str, Path] = field(default_factory=dict)
    dashboard: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        """Recordings with a failed step (or whose worker died)."""
        bad = self.report[self.report["status"] == "failed"]
        return list(dict.fromkeys(bad["recording"]))

    @property
    def set_aside(self) -> pd.DataFrame:
        """The rows saying a recording's damaged session was set aside (its steps recomputed)."""
        return self.report[self.report["status"] == SET_ASIDE]

    def summary(self) -> str:
        steps = self.report[self.report["status"] != SET_ASIDE]
        counts = steps.groupby("status").size().to_dict()
        n = self.report["recording"].nunique()
        parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        text = (f"{counted(n, 'recording')}, steps: {parts}; "
                f"{counted(len(self.failed), 'recording')} with failures")  # fmt: skip
        if len(self.set_aside):
            text += (
                f"; {counted(len(self.set_aside), 'damaged session')} set aside (see report.csv)"
            )
        return text


def failure_lines(report: pd.DataFrame) -> list[str]:
    """ "<recording>: <step> failed: <why>" per failed step, recording by recording: what
    `catrack batch` prints and the Batch widget shows (also for a cancelled batch's report)."""
    bad = report[report["status"] == "failed"]
    return [
        f"{name}: {r.step} failed: {r.message}"
        for name in dict.fromkeys(bad["recording"])
        for r in bad[bad["recording"] == name].itertuples()
    ]


CONNECT_TIMEOUT_S = 5.0  # for `--scheduler`: to connect and hear the scheduler say what it is
SCHEDULER_PORT, DASHBOARD_PORT = 8786, 8787  # dask's defaults


def _host(scheduler: str) -> str:
    """The host named in a scheduler address (`HOST` when none can be read)."""
    from urllib.parse import urlsplit

    text = scheduler if "://" in scheduler else f"tcp://{scheduler}"
    try:
        return urlsplit(text).hostname or "HOST"
    except ValueError:
        return "HOST"


def _not_a_scheduler(scheduler: str, exc: BaseException | str) -> InputError:
    if isinstance(exc, str):
        why = exc
    elif isinstance(exc, TimeoutError):
        why = f"no dask answer within {CONNECT_TIMEOUT_S:g} s"
    elif isinstance(exc, OSError):
        why = str(exc) or type(exc).__name__
    else:  # distributed read garbage as a message: a 3 EiB MemoryError, an unpacking error, ...
        why = f"its answer is not dask's protocol ({type(exc).__name__})"
    expected = (
        f"expected tcp://{_host(scheduler)}:{SCHEDULER_PORT}, the scheduler's port (not the "
        f"dashboard's, {DASHBOARD_PORT})"
    )
    return InputError(f"{scheduler} is not a dask scheduler (or not reachable): {why}; {expected}")


def _refused(scheduler: str, timeout: float) -> str | None:
    """Why a plain TCP connection to a tcp:// address fails at once (nothing listens: refused,
    unknown host), else None: distributed's own connect retries a refused port until its
    timeout, so a wrong port took the whole of it to fail."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, loc = parse_address(scheduler)
        if scheme != "tcp":
            return None
        host, port = parse_host_port(loc)
    except (ValueError, TypeError):
        return None
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except ConnectionRefusedError:
        return f"nothing listens at {host}:{port} (refused)"
    except socket.gaierror as exc:
        return f"unknown host {host!r} ({exc.strerror or exc})"
    except OSError:  # a timeout or a network error: the handshake below says it in its words
        return None
    return None


def _check_scheduler(scheduler: str, timeout: float) -> None:
    """Ask `scheduler` who it is, all within `timeout` seconds, before `Client` is made: `Client`
    at a port that answers something else died with distributed's traceback (random bytes read as
    a message length: "Unable to allocate 3.07 EiB"), or waited for ever (an HTTP server such as
    the dashboard's port). Run in a thread of its own: its event loop is new even when the caller
    has one running (Jupyter). A web address (http://, the dashboard's) and a closed port fail at
    once, naming the address expected."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect
    from distributed.comm.addressing import parse_address
    from distributed.comm.registry import get_backend
    from distributed.security import Security

    if scheduler.lower().startswith(("http://", "https://")):
        raise _not_a_scheduler(scheduler, "that is a web address (the dashboard's?)")
    args = Security().get_connection_args("client")
    try:
        scheme = parse_address(scheduler)[0]
        get_backend(scheme)
    except ValueError as exc:  # "unknown address scheme 'http'"
        raise _not_a_scheduler(scheduler, str(exc)) from None
    if scheme in ("tls", "wss") and args.get("ssl_context") is None:
        why = f"a {scheme}:// address needs dask's TLS settings (distributed.comm.tls)"
        raise _not_a_scheduler(scheduler, why)

    refused = _refused(scheduler, timeout)
    if refused:
        raise _not_a_scheduler(scheduler, refused)

    async def identity() -> Any:
        comm = await connect(scheduler, timeout=timeout, **args)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    def ask() -> Any:
        return asyncio.run(asyncio.wait_for(identity(), timeout))

    pool = ThreadPoolExecutor(1)
    try:
        answer = pool.submit(ask).result(timeout + 5)
    except Exception as exc:  # whatever it was, it is not a scheduler
        raise _not_a_scheduler(scheduler, exc) from None
    finally:
        pool.shutdown(wait=False)
    kind = answer.get("type") if isinstance(answer, dict) else None
    if kind != "Scheduler":
        what = f"a dask {kind}" if isinstance(kind, str) else "something else"
        raise _not_a_scheduler(scheduler, f"it answered as {what}")


def _client(scheduler: str | None, workers: int | None, memory_limit: str | None, retries: int):
    import dask

    from napari_catrack.optional import require

    require("distributed", "catrack batch")
    from distributed import Client, LocalCluster

    if scheduler:
        _check_scheduler(scheduler, CONNECT_TIMEOUT_S)
        try:
            return Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s"), None
        except Exception as exc:  # any failure to connect is the one line below
            raise _not_a_scheduler(scheduler, exc) from None
    n = workers or min(4, os.cpu_count() or 1)
    with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
        try:
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                memory_limit=memory_limit or "auto",
                env=WORKER_ENV,
                dashboard_address=":0",
            )
        except Exception as exc:
            script = _unguarded_main_script()
            if script is None:
                raise
            raise InputError(_unguarded_line(script, exc)) from None
    from napari_catrack.batch.worker_exit import QuickExit

    client = Client(cluster)
    # its workers end at once when closed (worker_exit.py); register_worker_plugin before 2023.9
    register = getattr(client, "register_plugin", None) or client.register_worker_plugin
    try:
        register(QuickExit())
    except BaseException:  # no cluster left running behind the error
        client.close()
        cluster.close()
        raise
    return client, cluster


_MAIN_GUARD = re.compile(r"""__name__\s*==\s*["']__main__["']""")


def _unguarded_main_script() -> str | None:
    """The script Python runs (`python my_batch.py`) when it has no `if __name__ == "__main__":`
    guard (None otherwise, and in a notebook or the `catrack` command). dask starts the local
    workers by `spawn` on every system, and each imports that script again: unguarded, it starts
    the batch again inside the worker, which Python refuses ("bootstrapping phase")."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace") if path else ""
    except OSError:
        return None
    return str(path) if text and not _MAIN_GUARD.search(text) else None


def _unguarded_line(script: str | None, exc: BaseException | None = None) -> str:
    why = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    name = Path(script).name if script else "the script"
    return (
        f"the batch's worker processes could not start{why}: {name} runs the batch "
        'outside `if __name__ == "__main__":`, and each worker imports it again; put the call '
        "under that line"
    )


def _worker_lost(spec: Any, exc: BaseException, out_root: Path) -> list[dict[str, Any]]:
    """The report row of a recording whose worker died (dask's memory limit, a kill), after its
    temporary files are removed: a write the worker never finished leaves a hidden `.partial`
    file as large as the output (a registered movie), and no one else writes that folder."""
    from napari_catrack.batch.recording import clean_partial_files

    clean_partial_files(out_root / spec.name)
    message = f"the worker running this recording died ({type(exc).__name__}: {exc}); rerun the batch to redo it"
    return [
        {
            "recording": spec.name,
            "step": spec.steps[0],
            "status": "failed",
            "seconds": 0.0,
            "message": message,
        }
    ]


def check_batch_output(manifest: Manifest, output: str | os.PathLike, label: str = "-o") -> None:
    """Refuse, before anything is written, an output folder that is a file, that would overwrite
    an input (`commands._common.check_outputs`), or that directly holds one of the batch's
    recordings or its manifest: the batch writes `report.csv`, `pooled/` (and the Batch widget
    `manifest.yaml`) there, over the user's own files of those names."""
    from napari_catrack.io.output_check import OutputFolder, check_outputs

    out = Path(output)
    outputs = [OutputFolder(out, ("report.csv", *(f"pooled/{n}" for n in POOLED.values())))]
    inputs: dict[str, Any] = {"MANIFEST": manifest.source}
    for r in manifest.recordings:  # each recording's folder is the batch's: no input in it
        outputs.append(OutputFolder(out / r.name, owned=True))
        inputs[f"recording {r.name}"] = r.path
        inputs.update({f"{key} file of {r.name}": p for key, p in r.files.items()})
    check_outputs({label: outputs}, inputs)
    _check_folder_names(manifest, out)
    if not out.is_dir():
        return
    _check_folder_owners(manifest, out)
    held = [("the manifest", manifest.source)] if manifest.source is not None else []
    held += [(f"the recording {r.name}", r.path) for r in manifest.recordings]
    for what, path in held:
        path = Path(path)
        if any(_same_folder(p, out) for p in (path, path.parent)):
            raise InputError(
                f"the output folder {out} holds {what} ({path}); write the batch results to a "
                "folder of their own"
            )


def _check_folder_names(manifest: Manifest, out: Path) -> None:
    """Names that differ only in case are one folder where `out`'s file system does not tell
    case apart: refused there (a manifest parsed without its output folder, the widget's typed
    names), never written into one folder."""
    from napari_catrack.batch.manifest import case_insensitive

    names = [r.name for r in manifest.recordings]
    folded = [n.casefold() for n in names]
    clash = sorted({n for n in names if folded.count(n.casefold()) > 1})
    if clash and case_insensitive(out):
        raise InputError(
            f"recordings {', '.join(clash)} would share one folder in {out}: its file system "
            "does not tell case apart; give them names that differ in more than case (`name:`)"
        )


def _check_folder_owners(manifest: Manifest, out: Path) -> None:
    """A recording's folder that an earlier run filled for another recording (recorded in its
    `recording.INPUT_MARK`, or by older runs in its session) is refused, all such in one error:
    resuming there would mix that recording's results with this one's, or replace them."""
    from napari_catrack.batch.recording import folder_owner
    from napari_catrack.io.output_check import same_file

    problems = []
    for spec in manifest.recordings:
        owner = folder_owner(out / spec.name)
        if owner and not same_file(owner, spec.path) and os.path.exists(owner):
            if _copy_of(owner, spec.path):  # a copied project: this movie, copied with it
                continue
            problems.append(
                f"{out / spec.name} holds the results of {owner}, not of recording {spec.name} "
                f"({spec.path}); give one of them another `name:` in the manifest, or move that "
                "folder out of the way"
            )
    if problems:
        from napari_catrack.batch.manifest import _all

        raise _all(problems)


def _copy_of(owner: str, path: Path) -> bool:
    """`path` is a copy of `owner` (the same file name, size and SHA-256, `io.provenance`): the
    project (movies and batch output) copied elsewhere while the original stays, whose folders'
    marks still name the original movies."""
    from napari_catrack.io.provenance import file_provenance

    if os.path.normcase(Path(owner).name) != os.path.normcase(Path(path).name):
        return False
    a, b = file_provenance(owner), file_provenance(path)
    if a.get("missing") or b.get("missing"):
        return False
    keys = ("size", "sha256", "sha256_of")
    return all(a.get(k) is not None for k in keys[:2]) and [a.get(k) for k in keys] == [b.get(k) for k in keys]  # fmt: skip


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.is_dir() and os.path.samefile(a, b)
    except OSError:
        return False


def run_batch(
    manifest: Manifest,
    output: str | os.PathLike,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    memory_limit: str | None = None,
    retries: int = 0,
    progress: Callable[[int, int, str], Any] | None = None,
    log: Callable[[str], None] = print,
    on_client: Callable[[Any], Any] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> BatchResult:
    """Run every recording of `manifest` into `output/<name>/`, then the pooled tables and
    `output/report.csv`. `on_client(client)` is called once the cluster is up (monitors, tests);
    `cancel()` returning True stops handing out recordings (the running ones are cancelled)."""
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # a spawned worker importing an unguarded script again: no second batch (the parent
        # says why; `_inheriting` is what multiprocessing itself checks there)
        raise InputError(_unguarded_line(None))
    out = Path(output)
    check_batch_output(manifest, out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    client, cluster = _client(scheduler, workers, memory_limit, retries)
    from distributed import as_completed

    rows: list[dict[str, Any]] = []
    finished: set[str] = set()
    try:
        dashboard = client.dashboard_link
        log(f"dask dashboard: {dashboard}")
        if on_client is not None:
            on_client(client)
        pending = list(manifest.recordings)
        running: dict[Any, Any] = {}
        queue = as_completed()

        def submit_while_threads_are_free() -> None:
            # One recording per worker thread at a time, never queued on a worker in advance:
            # a worker that dies then takes only the recording it was running with it.
            slots = max(1, sum(client.nthreads().values()))
            while pending and len(running) < slots:
                spec = pending.pop(0)
                future = client.submit(
                    run_recording,
                    spec,
                    str(out.resolve()),
                    pure=False,
                    key=f"catrack-{spec.name}-{time.time_ns()}",
                    retries=retries,
                )
                running[future] = spec
                queue.add(future)

        total = len(manifest.recordings)
        if progress is not None:
            progress(0, total, "")
        submit_while_threads_are_free()
        for done, future in enumerate(queue, start=1):
            spec = running.pop(future)
            first = len(rows)
            try:
                rows.extend(future.result())
            except Exception as exc:  # KilledWorker, CommClosedError, CancelledError ...
                rows.extend(_worker_lost(spec, exc, out))
            finished.add(spec.name)
            if progress is not None:
                progress(done, total, spec.name)
            # a failed step is said when its recording finishes, not hours later at the end
            for line in failure_lines(pd.DataFrame(rows[first:], columns=REPORT_COLUMNS)):
                log(line)
            if cancel is not None and cancel():  # finished recordings stay; the rest waits
                client.cancel(list(running))
                report, path = write_cancelled_report(rows, finished, manifest, out)
                raise BatchCancelled(
                    f"batch cancelled after {done} of {counted(total, 'recording')}; finished recordings "
                    f"are kept, the report (the others marked cancelled) is {path}; a rerun "
                    "completes the others",
                    report,
                    done,
                    total,
                    path,
                )
            submit_while_threads_are_free()
    except KeyboardInterrupt as exc:  # Ctrl-C: the report of what finished, then stop
        from napari_catrack.stop import Stopped

        if not isinstance(exc, Stopped):  # a stop signal leaves no new file (stop.py)
            _, path = write_cancelled_report(rows, finished, manifest, out)
            n = len(finished)
            log(f"interrupted after {n} of {counted(len(manifest.recordings), 'recording')}; the report "
                f"(the others marked cancelled) is {path}")  # fmt: skip
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    report = _sorted_report(rows, manifest)
    from napari_catrack.io.tables import write_table

    write_table(report, out / "report.csv")
    pooled = pool_tables(manifest, out)
    return BatchResult(out, report, pooled, dashboard, time.perf_counter() - start)


def write_cancelled_report(
    rows: list[dict[str, Any]], finished: set[str], manifest: Manifest, out: Path
) -> tuple[pd.DataFrame, Path]:
    """`out/report.csv` of a batch that stopped early, written atomically: the rows of the
    recordings that finished, and one `cancelled` row for each other (not `failed`: nothing
    went wrong with it; a rerun does it). Returns the report and its path."""
    from napari_catrack.io.tables import write_table

    rows = list(rows)
    for spec in manifest.recordings:
        if spec.name not in finished:
            rows.append(
                {
                    "recording": spec.name,
                    "step": spec.steps[0] if spec.steps else "",
                    "status": CANCELLED,
                    "seconds": 0.0,
                    "message": "the batch was cancelled before this recording finished; a "
                    "rerun of the batch completes it",
                }
            )
    report = _sorted_report(rows, manifest)
    path = write_table(report, out / "report.csv")
    return report, path


def _sorted_report(rows: list[dict[str, Any]], manifest: Manifest) -> pd.DataFrame:
    """The report rows in the manifest's order of recordings (each recording's in step order)."""
    report = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    order = {s.name: i for i, s in enumerate(manifest.recordings)}
    return report.sort_values(
        "recording", key=lambda c: c.map(order), kind="stable", ignore_index=True
    )


def pool_tables(manifest: Manifest, out: Path) -> dict[str, Path]:
    """`out/pooled/cells.csv` and `transients.csv`: every recording's table with a `recording`
    column first (recordings without the table are left out)."""
    from napari_catrack.io.tables import write_table

    written = {}
    for key, name in POOLED.items():
        parts = []
        for spec in manifest.recordings:
            path = out / spec.name / name
            if path.is_file():
                table = pd.read_csv(path)
                table.insert(0, "recording", spec.name)
                parts.append(table)
        if parts:
            written[key] = write_table(pd.concat(parts, ignore_index=True), out / "pooled" / name)
    return written
