"""Shared fixtures: the real speech corpus, a tiny real XTTS checkpoint, PulseAudio, temp folders."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import soundfile as sf

from tests.support.broker import Broker, Listener
from tests.support.daemonproc import FAST, DaemonProcess, StartDaemon
from tests.support.pulse import PulseServer

if TYPE_CHECKING:
    from voice_daemon.app import Running
    from voice_daemon.core.events import Event, Notice

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data" / "librispeech"
# Random weights never emit the stop token: every text piece yields exactly this many GPT tokens.
TINY_MAX_AUDIO_TOKENS = 40


@pytest.fixture(scope="session")
def corpus() -> Path:
    """``tests/data/librispeech``: 10 speakers x 10 real utterances (CC BY 4.0, tests/data/README.md).

    ``VOICE_DAEMON_TEST_CORPUS`` names another folder of the same layout.
    """
    folder = Path(os.environ.get("VOICE_DAEMON_TEST_CORPUS") or CORPUS)
    if not folder.is_dir():
        pytest.fail(f"speech corpus not found at {folder}")
    return folder


def clips_of(corpus: Path, speaker: str) -> list[Path]:
    return sorted((corpus / speaker).glob("*.flac"))


def clip_longer_than(corpus: Path, speaker: str, seconds: float) -> Path:
    for path in clips_of(corpus, speaker):
        if sf.info(str(path)).duration >= seconds:
            return path
    raise LookupError(f"speaker {speaker} has no clip of {seconds} s")


@pytest.fixture(scope="session")
def reference(corpus: Path) -> Path:
    """A good reference clip (10 s or longer) of speaker 367."""
    return clip_longer_than(corpus, "367", 10)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 64-channel XTTS v2 checkpoint built from the real coqui classes."""
    from voice_daemon.synthesis.devmodel import build_checkpoint

    return build_checkpoint(
        tmp_path_factory.mktemp("tiny-model"), "tiny", max_audio_tokens=TINY_MAX_AUDIO_TOKENS
    )


@pytest.fixture(scope="session")
def engine(tiny_model: Path):
    """The tiny model, loaded through the daemon's normal loading path."""
    from voice_daemon.synthesis.engine import Engine

    return Engine.load(tiny_model, "cpu")


@pytest.fixture(scope="session")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """A private PulseAudio server; the process environment points at it."""
    if not shutil.which("pulseaudio"):
        pytest.fail("pulseaudio is not installed: run scripts/setup --test as root")
    server = PulseServer(Path(tmp_path_factory.mktemp("pulse"))).start()
    saved = {key: os.environ.get(key) for key in server.env}
    os.environ.update(server.env)
    yield server
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def home(tmp_path: Path, reference: Path) -> Path:
    """A data folder with voices/ holding voice 'default' (a real clip), and empty work folders."""
    (tmp_path / "voices").mkdir()
    shutil.copy(reference, tmp_path / "voices" / "default.flac")
    for name in ("inbox", "output", "cache", "spool"):
        (tmp_path / name).mkdir()
    return tmp_path


def write_config(home: Path, model: Path, extra: str = "") -> Path:
    """A TOML config using ``home``'s folders and ``model``; ``extra`` is appended verbatim."""
    path = home / "config.toml"
    path.write_text(
        f"""
[model]
path = "{model}"
device = "cpu"
threads = 1
[paths]
base = "{home}"
voices = "voices"
inbox = "inbox"
output = "output"
cache = "cache"
spool = "spool"
{extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def start_daemon(home: Path, tiny_model: Path, pulse: PulseServer) -> Iterator[StartDaemon]:
    started: list[DaemonProcess] = []

    def start(
        extra: str = FAST,
        env: dict[str, str] | None = None,
        model: Path = tiny_model,
        program: list[str] | None = None,
        ready: bool = True,
    ) -> DaemonProcess:
        config = write_config(home, model, extra)
        daemon = DaemonProcess(config, home, {**pulse.env, **(env or {})}, program)
        started.append(daemon)
        if ready:
            daemon.wait_ready()
        return daemon

    yield start
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.kill()


@pytest.fixture
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A real mosquitto with persistence on a free loopback port."""
    server = Broker(tmp_path_factory.mktemp("broker")).start()
    yield server
    server.stop()


@pytest.fixture
def listener(broker: Broker) -> Iterator[Listener]:
    """A client recording voice/#, hermes/# and homeassistant/#."""
    client = Listener(broker, ["voice/#", "hermes/#", "homeassistant/#"])
    yield client
    client.close()


def mqtt_config(broker: Broker, extra: str = "") -> str:
    """Config text enabling MQTT against ``broker`` (append to FAST or another config)."""
    return (
        f'\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\n'
        f'client_id = "vd-test"\n{extra}\n'
    )


@pytest.fixture
def events(running: Running) -> list[Event]:
    """Every event the seam of ``running`` (a test module's in-process daemon) publishes."""
    from voice_daemon.core.events import Event

    seen: list[Event] = []

    def record(notice: Notice) -> None:
        if isinstance(notice, Event):
            seen.append(notice)

    running.seam.subscribe(record)
    return seen
