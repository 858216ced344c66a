"""A real Home Assistant against the real broker: voice-daemon appears as a device and speaks.

Home Assistant runs from ``.venv-hass`` (``scripts/setup --test`` installs it where a Python
3.13 is available); it is driven through its own automations, triggered over MQTT.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import clip_longer_than, mqtt_config
from tests.support.broker import Broker, Listener
from tests.support.daemonproc import FAST, StartDaemon
from tests.support.homeassistant import VERSION, HomeAssistant

pytestmark = pytest.mark.skipif(
    not HomeAssistant.installed(), reason=f"Home Assistant {VERSION} is not installed (.venv-hass needs Python 3.13)"
)
NODE = "vd_test"  # the daemon's client id, hence the entity ids below
ENTITIES = {
    f"notify.{NODE}_announce", f"select.{NODE}_default_voice", f"sensor.{NODE}_queue",
    f"sensor.{NODE}_last_error", f"binary_sensor.{NODE}_speaking", f"button.{NODE}_stop",
}  # fmt: skip


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


def wait_states(client: Listener, predicate, timeout: float, what: str) -> dict[str, str]:  # noqa: ANN001
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
        client.wait_for(lambda: client.on("homeassistant/status"), 240, f"Home Assistant online\n{hass.log_tail()}")

        states = wait_states(client, lambda s: ENTITIES <= s.keys() and "unavailable" not in
                             [s[e] for e in ENTITIES if not e.startswith(("notify.", "button."))], 120,
                             "the daemon's entities, available")  # fmt: skip
        assert states[f"binary_sensor.{NODE}_speaking"] == "off"
        assert states[f"select.{NODE}_default_voice"] == "default"

        client.publish("test/announce", "Hello from Home Assistant.")
        done = client.wait_for(lambda: [m.json() for m in client.on("voice/event") if m.json()["state"] == "done"],
                               60, "the announcement spoken")  # fmt: skip
        assert done[0]["source"] == "mqtt" and (home / "output" / done[0]["file"]).stat().st_size > 1000

        client.publish("test/select", "anna")
        client.wait_for(lambda: [m for m in client.on("voice/default_voice") if m.payload == b"anna"], 30,
                        "the default voice set from Home Assistant")  # fmt: skip
        wait_states(client, lambda s: s.get(f"select.{NODE}_default_voice") == "anna", 90, "select state anna")

        client.publish("test/press", "now")
        client.wait_for(lambda: client.on("voice/stop"), 30, "the stop button pressed in Home Assistant")

        daemon.stop()
        wait_states(client, lambda s: s.get(f"sensor.{NODE}_queue") == "unavailable", 90, "entities unavailable")
    finally:
        client.close()
