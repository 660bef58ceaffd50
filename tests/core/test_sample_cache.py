"""The disk cache of generated samples: instant after the first time, never stale."""

from __future__ import annotations

import numpy as np

from napari_catrack.synthetic import cache


def test_cached_values_come_back_and_keys_follow_args_and_code(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    calls = []

    def make():
        calls.append(1)
        return {"movie": np.arange(12, dtype=np.uint16).reshape(3, 4), "fps": 10.0, "ids": ["a"]}

    first, hit = cache.cached("demo", {"seed": 1}, make)
    assert not hit and len(calls) == 1 and first["fps"] == 10.0
    again, hit = cache.cached("demo", {"seed": 1}, make)
    assert hit and len(calls) == 1  # not generated twice
    np.testing.assert_array_equal(again["movie"], np.arange(12).reshape(3, 4))
    assert again["movie"].dtype == np.uint16 and isinstance(again["movie"], np.memmap)
    assert again["fps"] == 10.0 and again["ids"] == ["a"]
    cache.cached("demo", {"seed": 2}, make)
    assert len(calls) == 2  # other arguments: another entry

    monkeypatch.setattr(cache, "generator_version", lambda: "changed-generator")
    cache.cached("demo", {"seed": 1}, make)
    assert len(calls) == 3  # a changed generator never serves the old sample


def test_a_damaged_entry_is_made_again(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    make = lambda: {"x": np.ones(3)}  # noqa: E731
    cache.cached("demo", {}, make)
    folder = cache.cache_root() / cache.cache_key("demo", {})
    (folder / "x.npy").write_bytes(b"broken")
    values, hit = cache.cached("demo", {}, make)
    assert not hit and np.array_equal(values["x"], np.ones(3))


def test_moving_worm_sample_uses_the_cache(tmp_path, monkeypatch):
    from napari_catrack._sample_data import moving_worm_sample

    monkeypatch.setenv(cache.ENV, str(tmp_path))
    first = moving_worm_sample(n_frames=6)
    second = moving_worm_sample(n_frames=6)
    np.testing.assert_array_equal(first[0][0], second[0][0])
    assert isinstance(second[1][0], np.memmap)  # read back from disk, not generated again
    assert second[0][1]["metadata"]["catrack"]["summary"]["fps"] > 0
    assert len(second[2][0]) == len(first[2][0])  # ground-truth tracks too
