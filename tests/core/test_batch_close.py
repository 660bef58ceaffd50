"""A batch on its own LocalCluster ends without dask killing its workers (h21): once a worker had
imported torch, every `catrack batch` ended with "Worker process still alive after 4.0 seconds,
killing" (the interpreter's teardown of torch outlasts the nanny's close timeout); the runner's
`QuickExit` worker plugin (batch/worker_exit.py) ends a closed worker's process at once."""

from __future__ import annotations

import logging

import pytest

from napari_catrack.batch.manifest import read_manifest
from napari_catrack.synthetic.batch import write_batch_folder

pytest.importorskip("distributed")
pytest.importorskip("torch")


class _Held(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _import_torch() -> bool:
    import torch

    return torch.ones(2).sum().item() == 2.0


@pytest.mark.slow  # a local cluster of its own (10-45 s on the shared machine)
def test_a_batch_whose_workers_ran_torch_closes_them_without_killing(tmp_path):
    """Failed before h21: the nanny logged "Worker process still alive after 4.0 seconds,
    killing" for the worker that had imported torch."""
    from napari_catrack.batch.runner import run_batch
    from napari_catrack.batch.worker_exit import QuickExit

    write_batch_folder(tmp_path / "in", 1, n_frames=8, shape=(32, 32), n_neurons=2,
                       steps=("track",))  # fmt: skip
    manifest = read_manifest(tmp_path / "in" / "manifest.yaml")
    seen = {}

    def on_client(client):
        seen["torch"] = client.run(_import_torch)  # as a step that runs torch would
        seen["plugins"] = client.run(lambda dask_worker: sorted(dask_worker.plugins))

    held = _Held()
    nanny = logging.getLogger("distributed.nanny")
    nanny.addHandler(held)
    try:
        result = run_batch(manifest, tmp_path / "out", workers=1, log=lambda _: None,
                           on_client=on_client)  # fmt: skip
    finally:
        nanny.removeHandler(held)
    assert result.failed == [] and list(seen["torch"].values()) == [True]
    killed = [line for line in held.lines if "still alive" in line or "killed" in line]
    assert not killed, killed
    assert all(QuickExit.name in names for names in seen["plugins"].values())
