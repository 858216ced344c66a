"""A real Home Assistant against the real daemon: over the broker voice-daemon appears as a device and
speaks; over Wyoming it is a text-to-speech engine with its voices per language.

Home Assistant runs from ``.venv-hass`` (``scripts/setup --test`` installs it where a Python
3.13 is available); it is driven through its own automations, triggered over MQTT, and through
its REST and websocket APIs with a seeded access token.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import av
import httpx
import numpy as np
import pytest

from tests.conftest import clip_longer_than, mqtt_config
from tests.support.broker import Broker, Listener, free_port
from tests.support.daemonproc import FAST, StartDaemon, wait_until
from tests.support.homeassistant import VERSION, HomeAssistant

pytestmark = pytest.mark.skipif(
    not HomeAssistant.installed(),
    reason=f"Home Assistant {VERSION} is not installed (.venv-hass needs Python 3.13)",
)
NODE = "vd_test"  # the daemon's client id, hence the entity ids below
ENTITIES = {
    f"notify.{NODE}_announce",
    f"select.{NODE}_default_voice",
    f"sensor.{NODE}_queue",
    f"sensor.{NODE}_last_error",
    f"binary_sensor.{NODE}_speaking",
    f"button.{NODE}_stop",
}


@pytest.fixture
def hass(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HomeAssistant]:
    server = HomeAssistant(tmp_path_factory.mktemp("hass"), broker, NODE).start()
    yield server
    server.stop()


def entity_states(client: Listener, count_before: int) -> dict[str, str] | None:
    """Home Assistant's latest report (asked for with test/report) if it came after ``count_before``."""
    reports = client.on("test/entities")
    return dict(json.loads(reports[-1].payload)) if len(reports) > count_before else None


def report(client: Listener, timeout: float = 30) -> dict[str, str]:
    before = len(client.on("test/entities"))
    client.publish("test/report", "now")
    return client.wait_for(lambda: entity_states(client, before), timeout, "Home Assistant's entity report")


def wait_states(client: Listener, predicate, timeout: float, what: str) -> dict[str, str]:
    """Ask Home Assistant for its entity states until ``predicate`` holds."""
    seen: dict[str, str] = {}

    def check() -> dict[str, str] | None:
        nonlocal seen
        try:
            seen = report(client)
        except AssertionError:  # a busy Home Assistant answers late: ask again
            return None
        return seen if predicate(seen) else None

    try:
        return client.wait_for(check, timeout, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; Home Assistant's entities: {seen}") from None


def test_home_assistant_discovers_the_device_and_makes_it_speak(
    start_daemon: StartDaemon, broker: Broker, hass: HomeAssistant, home: Path, corpus: Path
) -> None:
    shutil.copy(clip_longer_than(corpus, "3080", 8), home / "voices" / "anna.flac")
    client = Listener(broker, ["voice/#", "test/#", "homeassistant/status"])
    try:
        daemon = start_daemon(FAST + mqtt_config(broker).replace('"vd-test"', f'"{NODE}"'))
        client.wait_for(
            lambda: client.on("homeassistant/status"), 240, f"Home Assistant online\n{hass.log_tail()}"
        )

        states = wait_states(
            client,
            lambda s: (
                s.keys() >= ENTITIES
                and "unavailable" not in [s[e] for e in ENTITIES if not e.startswith(("notify.", "button."))]
            ),
            120,
            "the daemon's entities, available",
        )
        assert states[f"binary_sensor.{NODE}_speaking"] == "off"
        assert states[f"select.{NODE}_default_voice"] == "default"

        client.publish("test/announce", "Hello from Home Assistant.")
        done = client.wait_for(
            lambda: [m.json() for m in client.on("voice/event") if m.json()["state"] == "done"],
            60,
            "the announcement spoken",
        )
        assert done[0]["source"] == "mqtt" and (home / "output" / done[0]["file"]).stat().st_size > 1000

        client.publish("test/select", "anna")
        client.wait_for(
            lambda: [m for m in client.on("voice/default_voice") if m.payload == b"anna"],
            30,
            "the default voice set from Home Assistant",
        )
        wait_states(
            client, lambda s: s.get(f"select.{NODE}_default_voice") == "anna", 90, "select state anna"
        )

        client.publish("test/press", "now")
        client.wait_for(lambda: client.on("voice/stop"), 30, "the stop button pressed in Home Assistant")

        daemon.stop()
        wait_states(
            client, lambda s: s.get(f"sensor.{NODE}_queue") == "unavailable", 90, "entities unavailable"
        )
    finally:
        client.close()


def test_home_assistant_speaks_through_the_wyoming_server_in_the_pipeline_language(
    start_daemon: StartDaemon, home: Path, corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Home Assistant 2025.4.4's Wyoming TTS sends one ``synthesize`` (text streaming came in 2025.7;
    tests/test_wyoming.py covers it with the library's client)."""
    shutil.copy(clip_longer_than(corpus, "3080", 8), home / "voices" / "anna.flac")
    port = free_port()
    daemon = start_daemon(FAST + f'[wyoming]\nenabled = true\nuri = "tcp://127.0.0.1:{port}"\n')
    hass = HomeAssistant(tmp_path_factory.mktemp("hass-wyoming"), None, wyoming_port=port).start()
    try:
        api = httpx.Client(base_url=hass.url, headers={"Authorization": f"Bearer {hass.token}"}, timeout=60)
        engine = wait_for_engine(api, hass)
        assert asyncio.run(voices_of(hass, engine, "de")) == ["anna (de)", "default (de)"]
        assert "anna (fr)" in asyncio.run(voices_of(hass, engine, "fr"))

        options = {"voice": "anna (de)", "preferred_format": "wav"}  # as made: FFmpeg need not convert
        asked = api.post(
            "/api/tts_get_url",
            json={"engine_id": engine, "message": "Die Tür ist offen.", "language": "de", "options": options},
        )
        assert asked.status_code == 200, asked.text
        audio = api.get(asked.json()["path"])
        assert audio.status_code == 200, audio.text[:300]
        with av.open(io.BytesIO(audio.content)) as container:
            stream = container.streams.audio[0]
            samples = np.concatenate([frame.to_ndarray() for frame in container.decode(stream)], axis=1)[0]
            rate, channels = stream.rate, stream.channels
        assert (rate, channels) == (24_000, 1) and 1.5 < samples.size / rate < 2.5  # one tiny-model piece
        assert np.abs(samples).max() > 0.01
        wait_until(lambda: "source" in daemon.log() or " done" in daemon.log(), 10)
        assert daemon.log().count(" done") == 1  # spoken once, by the daemon
    finally:
        hass.stop()


def wait_for_engine(api: httpx.Client, hass: HomeAssistant, timeout: float = 240) -> str:
    """The entity id of the daemon's TTS entity, once Home Assistant has set up the Wyoming entry."""
    found: list[str] = []

    def engine() -> bool:
        try:
            states = api.get("/api/states").json()
        except (httpx.HTTPError, ValueError):
            return False
        found[:] = [s["entity_id"] for s in states if s["entity_id"].startswith("tts.")]
        return bool(found)

    wait_until(engine, timeout, lambda: f"no TTS entity in Home Assistant:\n{hass.log_tail()}")
    return found[0]


async def voices_of(hass: HomeAssistant, engine: str, language: str) -> list[str]:
    """The voice ids Home Assistant offers for ``engine`` in a pipeline of ``language``.

    Asked through Home Assistant's websocket API.
    """
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{hass.url}/api/websocket") as socket:
        await socket.receive_json()  # auth_required
        await socket.send_json({"type": "auth", "access_token": hass.token})
        assert (await socket.receive_json())["type"] == "auth_ok"
        asking = {"id": 1, "type": "tts/engine/voices", "engine_id": engine, "language": language}
        await socket.send_json(asking)
        answer = await socket.receive_json()
    assert answer["success"], answer
    return sorted(voice["voice_id"] for voice in answer["result"]["voices"])
