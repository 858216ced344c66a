"""Listening tests: the SQLite store, the HTTP API, the page in headless Chromium, the export."""

from __future__ import annotations

import csv
import json
import random
import sqlite3
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import write_config
from tests.support.daemonproc import daemon_command
from voice_daemon.audio import Clip, decode
from voice_daemon.errors import RequestError
from voice_daemon.quality.listening import ListeningServer
from voice_daemon.quality.ratings import RatingStore

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parent.parent


def clip(path: Path, seconds: float = 1.0, seed: int = 0) -> Clip:
    """The decoded audio of :func:`wav`."""
    return decode(wav(path, seconds, seed))


def wav(path: Path, seconds: float = 1.0, seed: int = 0) -> Path:
    """A short real WAV file (a tone with a little noise)."""
    t = np.arange(int(24_000 * seconds)) / 24_000
    samples = 0.3 * np.sin(2 * np.pi * 220 * t) + np.random.default_rng(seed).normal(0, 0.01, t.size)
    sf.write(path, samples.astype(np.float32), 24_000)
    return path


@pytest.fixture
def store(tmp_path: Path) -> RatingStore:
    return RatingStore(tmp_path / "eval" / "ratings.sqlite")


def test_store_records_ratings_and_preferences(store: RatingStore, tmp_path: Path) -> None:
    first = store.add_take(
        clip(tmp_path / "a.wav"), "anna", "Hello.", {"sampling": {"temperature": 0.5}}, 0.8
    )
    second = store.add_take(
        clip(tmp_path / "b.wav", seed=1), "anna", "Hello.", {"sampling": {"temperature": 0.9}}, 0.6
    )
    other = store.add_take(clip(tmp_path / "c.wav"), "bert", "Goodbye.")
    stored = decode(store.audio_file(first))
    assert stored.sample_rate == 24_000 and np.allclose(
        stored.samples, decode(tmp_path / "a.wav").samples, atol=1e-4
    )
    store.rate(first, 5)
    store.rate(second, 2)
    store.prefer(first, second, first)
    store.prefer(second, first, None)
    with pytest.raises(RequestError, match="whole number from 1 to 5"):
        store.rate(first, 6)
    with pytest.raises(RequestError, match="no take 'feedface'"):
        store.rate("feedface", 3)
    with pytest.raises(RequestError, match="same voice and text"):
        store.prefer(first, other, first)
    human = store.human_scores("anna")
    assert human['{"sampling":{"temperature":0.5}}'] == pytest.approx((1.0 + 0.75) / 2)
    assert human['{"sampling":{"temperature":0.9}}'] == pytest.approx((0.25 + 0.25) / 2)
    assert {store.next_task(random.Random(seed))["take"] for seed in range(10)} == {
        other
    }  # least rated first
    store.rate(other, 3)
    tasks = [store.next_task(random.Random(seed)) for seed in range(10)]
    assert {task["kind"] for task in tasks} == {"mos"}  # the pair was compared twice, each take rated once
    store.rate(first, 4)
    store.rate(second, 4)
    store.rate(other, 4)
    tasks = [store.next_task(random.Random(seed)) for seed in range(10)]
    assert {task["kind"] for task in tasks} == {"mos"}
    store.rate(first, 4)
    store.rate(second, 4)
    store.rate(other, 4)
    tasks = [store.next_task(random.Random(seed)) for seed in range(10)]
    assert {task["kind"] for task in tasks} == {"ab"} and {task["a"] for task in tasks} == {first, second}


def test_http_api_rejects_bad_input(store: RatingStore, tmp_path: Path) -> None:
    take = store.add_take(clip(tmp_path / "a.wav"), "anna", "Hello.")
    server = ListeningServer(store, "127.0.0.1", 0)
    server.start()
    try:
        with urllib.request.urlopen(server.url + "api/task") as response:
            assert json.load(response) == {"kind": "mos", "take": take, "text": "Hello."}
        with urllib.request.urlopen(f"{server.url}audio/{take}.wav") as response:
            assert response.read()[:4] == b"RIFF"
        for path, body, message in [
            ("api/mos", {"take": take, "rating": 9}, "whole number from 1 to 5"),
            ("api/mos", {"take": "0" * 16, "rating": 3}, "no take"),
            ("api/ab", {"a": take, "b": take, "preferred": None}, "two different takes"),
        ]:
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(server.url + path, json.dumps(body).encode())
            with error.value:
                assert error.value.code == 400 and message in json.load(error.value)["error"]
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(server.url + "audio/../ratings.sqlite")
        with missing.value:
            assert missing.value.code == 404
    finally:
        server.stop()


@pytest.fixture
def eval_server(home: Path, tiny_model: Path) -> Iterator[tuple[str, Path]]:
    """``voice-daemon eval`` serving two takes of one text (added with ``eval --add``), as a subprocess."""
    db = home / "cache" / "ratings.sqlite"
    config = write_config(home, tiny_model, "[quality]\neval_port = 0\n")
    takes = [str(wav(home / "a.wav")), str(wav(home / "b.wav", 1.5, seed=1))]
    added = subprocess.run(
        daemon_command(
            "--config",
            str(config),
            "eval",
            "--add",
            *takes,
            "--voice",
            "default",
            "--text",
            "The door is open.",
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert added.returncode == 0, added.stderr
    with subprocess.Popen(
        daemon_command("--config", str(config), "eval"), stdout=subprocess.PIPE, text=True
    ) as process:  # leaving it closes the pipe
        try:
            line = process.stdout.readline()  # type: ignore[union-attr]
            assert "listening test on http://127.0.0.1:" in line, line
            yield line.split()[3], db
        finally:
            process.terminate()
            process.wait(30)


def listen_and_click(page, play: list[str], choice: str, screenshot: Path | None = None) -> None:
    """Play each take to its end (its button gets a tick), then click ``choice``."""
    from playwright.sync_api import expect

    button = page.get_by_role("button", name=choice)
    expect(button).to_be_disabled()  # not before every take was heard
    for name in play:
        page.get_by_role("button", name=name, exact=True).click()
        expect(page.get_by_role("button", name=f"{name} \u2713")).to_be_visible(timeout=20_000)
    expect(button).to_be_enabled()
    if screenshot is not None:
        page.screenshot(path=str(screenshot))
    button.click()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (scripts/setup --test)")
def test_listening_page_in_headless_chromium(eval_server: tuple[str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, db = eval_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page()
        page.goto(url)
        expect(page.get_by_text("The door is open.")).to_be_visible()
        listen_and_click(page, ["\u25b6 Play"], "4 Good", tmp_path / "listening-test.png")
        expect(page.get_by_text("Saved. 1 rating(s)")).to_be_visible()
        listen_and_click(page, ["\u25b6 Play"], "2 Poor")
        expect(page.get_by_text("Saved. 2 rating(s)")).to_be_visible()
        listen_and_click(
            page, ["\u25b6 Play A", "\u25b6 Play B"], "A is better", tmp_path / "listening-test-ab.png"
        )
        expect(page.get_by_text("Saved. 3 rating(s)")).to_be_visible()
        browser.close()
    print(f"screenshots: {tmp_path / 'listening-test.png'}, {tmp_path / 'listening-test-ab.png'}")
    with sqlite3.connect(db) as connection:
        assert sorted(connection.execute("SELECT rating FROM mos").fetchall()) == [(2,), (4,)]
        ((a, b, preferred),) = connection.execute("SELECT take_a, take_b, preferred FROM ab").fetchall()
        assert preferred == a != b


def test_export_writes_csv_summary_and_plot(
    home: Path, tiny_model: Path, store: RatingStore, tmp_path: Path
) -> None:
    for index, rating in enumerate([5, 4, 2]):
        take = store.add_take(
            clip(tmp_path / f"{index}.wav", seed=index), "anna", "Hello.", score=0.2 * (index + 1)
        )
        store.rate(take, rating)
    config = write_config(home, tiny_model)
    out = tmp_path / "export" / "ratings.csv"
    done = subprocess.run(
        daemon_command("--config", str(config), "eval", "--db", str(store.path), "--export", str(out)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(int(row["rating"]) for row in rows) == [2, 4, 5] and {row["voice"] for row in rows} == {
        "anna"
    }
    assert "anna" in done.stdout and "MOS 3.67" in done.stdout and "3 rating(s)" in done.stdout
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_adding_takes_needs_voice_and_text(home: Path, tiny_model: Path) -> None:
    config = write_config(home, tiny_model)
    done = subprocess.run(
        daemon_command("--config", str(config), "eval", "--add", str(wav(home / "x.wav"))),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "needs --voice" in done.stderr
