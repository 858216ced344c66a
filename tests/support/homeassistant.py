"""A real Home Assistant (installed by ``scripts/setup --test`` in ``.venv-hass``) wired to a test broker.

Its configuration is seeded so no UI is needed: an MQTT config entry for the broker (discovery
on) and automations that let a test drive it over MQTT: ``test/announce`` calls
``notify.send_message`` on the daemon's notify entity, ``test/select`` sets the default-voice
select, ``test/press`` presses the stop button and ``test/report`` publishes the id and state
of every entity of the daemon's device to ``test/entities``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.broker import Broker, free_port

VENV = Path(__file__).resolve().parents[2] / ".venv-hass"
VERSION = "2025.4.4"

_CONFIGURATION = """
homeassistant:
  name: voice-daemon test
  latitude: 52.5
  longitude: 13.4
  elevation: 0
  unit_system: metric
  time_zone: UTC
  country: DE
http:
  server_host: 127.0.0.1
  server_port: {http_port}
logger:
  default: warning
automation:
  - id: test_announce
    alias: announce
    triggers: [{{trigger: mqtt, topic: test/announce}}]
    actions:
      - action: notify.send_message
        target: {{entity_id: notify.{node}_announce}}
        data: {{message: "{{{{ trigger.payload }}}}"}}
  - id: test_select
    alias: select voice
    triggers: [{{trigger: mqtt, topic: test/select}}]
    actions:
      - action: select.select_option
        target: {{entity_id: select.{node}_default_voice}}
        data: {{option: "{{{{ trigger.payload }}}}"}}
  - id: test_press
    alias: press stop
    triggers: [{{trigger: mqtt, topic: test/press}}]
    actions:
      - action: button.press
        target: {{entity_id: button.{node}_stop}}
  - id: test_report
    alias: report
    mode: queued
    triggers: [{{trigger: mqtt, topic: test/report}}]
    actions:
      - action: mqtt.publish
        data:
          topic: test/entities
          payload: >-
            {{% set ns = namespace(found=[]) %}}{{% for s in states if s.entity_id.split('.')[1].startswith('{node}_') %}}{{% set ns.found = ns.found + [[s.entity_id, s.state]] %}}{{% endfor %}}{{{{ ns.found | tojson }}}}
"""


def _config_entries(broker: Broker) -> dict:
    entry = {
        "created_at": "2025-01-01T00:00:00+00:00", "modified_at": "2025-01-01T00:00:00+00:00",
        "data": {"broker": "127.0.0.1", "port": broker.port}, "disabled_by": None, "discovery_keys": {},
        "domain": "mqtt", "entry_id": "01JVOICEDAEMONTESTMQTT0000", "minor_version": 2, "version": 1,
        "options": {"discovery": True, "discovery_prefix": "homeassistant"}, "pref_disable_new_entities": False,
        "pref_disable_polling": False, "source": "user", "subentries": [], "title": "test broker", "unique_id": None,
    }  # fmt: skip
    return {"version": 1, "minor_version": 5, "key": "core.config_entries", "data": {"entries": [entry]}}


class HomeAssistant:
    """``hass -c CONFIG_DIR`` as a subprocess, talking to ``broker``; entities of device ``node``."""

    def __init__(self, root: Path, broker: Broker, node: str) -> None:
        self.root = root
        (root / ".storage").mkdir(parents=True, exist_ok=True)
        (root / ".storage" / "core.config_entries").write_text(json.dumps(_config_entries(broker)))
        (root / "configuration.yaml").write_text(_CONFIGURATION.format(http_port=free_port(), node=node))
        self.log = root / "hass.out"
        self.process: subprocess.Popen | None = None

    @staticmethod
    def installed() -> bool:
        return (VENV / "bin" / "hass").exists()

    def start(self) -> HomeAssistant:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen([str(VENV / "bin" / "hass"), "-c", str(self.root), "--skip-pip"],
                                            stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        return self

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
