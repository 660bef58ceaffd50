"""benchmarks/bench_twophoton_memory.py: a run on a movie of one's own never overwrites the
committed result (docs/two_photon_benchmarks.md quotes `--movie big.tif`; it wrote over
`benchmarks/results/twophoton_memory_summary.json`)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_twophoton_memory.py"


@pytest.fixture
def bench(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_twophoton_memory", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = tmp_path / "results"
    results.mkdir()
    (results / "twophoton_memory_summary.json").write_text('{"committed": true}')
    monkeypatch.setattr(module, "RESULTS", results)
    return module


def test_a_movie_of_ones_own_is_printed_not_written_over_the_committed_result(
    bench, tmp_path, capsys
):
    movie = tmp_path / "mine.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(movie, rng.integers(100, 400, (12, 48, 48), dtype=np.uint16))
    committed = bench.RESULTS / "twophoton_memory_summary.json"
    args = ["--step", "summary", "--movie", str(movie), "--dir", str(tmp_path)]
    bench.main(args)
    out, err = capsys.readouterr()
    assert json.loads(out)["frames"] == 12 and "not written" in err
    assert json.loads(committed.read_text()) == {"committed": True}
    assert sorted(p.name for p in bench.RESULTS.iterdir()) == [committed.name]
    assert movie.exists()  # the user's movie is kept
    bench.main([*args, "--out", str(tmp_path / "mine.json")])
    assert json.loads((tmp_path / "mine.json").read_text())["step"] == "summary"
    assert json.loads(committed.read_text()) == {"committed": True}
    # asked on purpose: the committed file is the --out
    assert bench.result_path("summary", str(movie), str(committed)) == committed
    # the built movie still writes the committed file (what it measures)
    assert bench.result_path("register", None, None) == bench.RESULTS / "twophoton_memory.json"


def test_an_out_that_is_the_movie_or_a_folder_is_refused(bench, tmp_path):
    movie = tmp_path / "mine.tif"
    movie.write_bytes(b"movie")
    with pytest.raises(SystemExit, match="is the movie itself"):
        bench.main(["--movie", str(movie), "--out", str(movie)])
    with pytest.raises(SystemExit, match="is a folder"):
        bench.main(["--movie", str(movie), "--out", str(tmp_path)])
    assert movie.read_bytes() == b"movie"
