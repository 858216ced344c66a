"""The audio cache: keys, LRU bound, damaged entries, and repeated announcements in the real daemon."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.support.daemonproc import FAST, StartDaemon, drop, outcome, wait_filed
from voice_daemon.synthesis.audiocache import CHUNK_SAMPLES, AudioCache, audio_key
from voice_daemon.synthesis.types import Rendering, SamplingParams

BASE = ("Dinner is ready.", "en", "voice-key", "model-id", SamplingParams())


def _audio(seconds: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * 24_000)).astype(np.float32)


def test_the_key_changes_with_everything_that_shapes_the_audio() -> None:
    variants = [
        ("Dinner is ready!", *BASE[1:]),
        (BASE[0], "de", *BASE[2:]),
        (*BASE[:2], "other-voice-content", *BASE[3:]),
        (*BASE[:3], "model-id-int8", BASE[4]),
        *[
            (*BASE[:4], SamplingParams(**{name: value}))
            for name, value in {
                "temperature": 0.7,
                "top_k": 40,
                "top_p": 0.8,
                "repetition_penalty": 4.0,
                "length_penalty": 1.1,
                "speed": 1.2,
                "stream_chunk_size": 10,
            }.items()
        ],
    ]
    keys = {audio_key(*variant) for variant in variants}
    assert len(keys) == len(variants) and audio_key(*BASE) not in keys
    assert audio_key(*BASE) == audio_key(*BASE)


def test_a_stored_announcement_comes_back_identical_in_chunks(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, 10 * 2**20)
    audio = _audio(1.3)
    made = cache.stream("k", lambda: Rendering(iter([audio[:1000], audio[1000:]])), lambda: True)
    produced = list(made.chunks)
    assert made.facts["audio_cache"] == "miss" and np.array_equal(np.concatenate(produced), audio)
    again = cache.stream("k", _never, lambda: True)
    chunks = list(again.chunks)
    assert again.facts["audio_cache"] == "hit" and np.array_equal(np.concatenate(chunks), audio)
    assert max(len(chunk) for chunk in chunks) == CHUNK_SAMPLES and len(chunks) == 3


def test_an_interrupted_announcement_is_not_stored(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, 10 * 2**20)
    list(cache.stream("k", lambda: Rendering(iter([_audio(0.5)])), lambda: False).chunks)
    assert cache.get("k") is None and not list(tmp_path.iterdir())


def test_least_recently_used_entries_are_evicted_beyond_the_bound(tmp_path: Path) -> None:
    entry = _audio(1.0)  # 96 kB as float32
    cache = AudioCache(tmp_path, int(2.5 * entry.nbytes) + 1000)
    for number, key in enumerate(("a", "b")):
        cache.put(key, entry)
        os.utime(tmp_path / f"{key}.npy", ns=(number * 10**9, number * 10**9))  # a older than b
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", entry)
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    assert sum(path.stat().st_size for path in tmp_path.glob("*.npy")) <= cache.max_bytes
    cache.put("huge", _audio(10.0))  # larger than the whole bound: never stored
    assert cache.get("huge") is None and cache.get("a") is not None


def test_a_damaged_entry_is_ignored_removed_and_rebuilt(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, 10 * 2**20)
    audio = _audio(0.5)
    for damage in (b"not a numpy file", _npy_bytes(tmp_path, np.zeros((2, 2), np.float64))):
        (tmp_path / "k.npy").write_bytes(damage)
        made = cache.stream("k", lambda: Rendering(iter([audio])), lambda: True)
        produced = list(made.chunks)
        assert made.facts["audio_cache"] == "miss" and np.array_equal(produced[0], audio)
        assert np.array_equal(cache.get("k"), audio)


def _npy_bytes(folder: Path, array: np.ndarray) -> bytes:
    path = folder / "scratch.npy"
    np.save(path, array)
    content = path.read_bytes()
    path.unlink()
    return content


def _never():
    raise AssertionError("a cache hit must not synthesise")


def _say(home: Path, name: str, text: str, **fields: str) -> dict:
    drop(home, f"{name}.json", json.dumps({"id": name, "text": text, **fields}))
    assert wait_filed(home, f"{name}.json") == "done"
    return outcome(home, name)["data"]


def test_the_daemon_serves_a_repeated_announcement_from_the_cache(
    start_daemon: StartDaemon, home: Path
) -> None:
    start_daemon()
    text = "The washing machine has finished."
    assert _say(home, "first", text)["audio_cache"] == "miss"
    repeated = _say(home, "second", text)
    assert repeated["audio_cache"] == "hit"
    first, _ = sf.read(str(home / "output" / "first.wav"))
    second, _ = sf.read(str(home / "output" / "second.wav"))
    assert np.array_equal(first, second)  # sampling is random: only the cache makes them identical
    assert _say(home, "german", text, language="de")["audio_cache"] == "miss"
    entries = list((home / "cache" / "audio").glob("*.npy"))
    assert len(entries) == 2
    for entry in entries:
        entry.write_bytes(b"damaged")
    assert _say(home, "third", text)["audio_cache"] == "miss"
    assert _say(home, "fourth", text)["audio_cache"] == "hit"


def test_the_audio_cache_can_be_switched_off(start_daemon: StartDaemon, home: Path) -> None:
    start_daemon(FAST + "[cache]\naudio_enabled = false\n")
    text = "The washing machine has finished."
    assert "audio_cache" not in _say(home, "first", text)
    assert "audio_cache" not in _say(home, "second", text)
    assert not (home / "cache" / "audio").exists()
    first, _ = sf.read(str(home / "output" / "first.wav"))
    second, _ = sf.read(str(home / "output" / "second.wav"))
    assert not np.array_equal(first, second)
