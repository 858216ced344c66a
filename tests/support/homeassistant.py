"""A real Home Assistant (installed by ``scripts/setup --test`` in ``.venv-hass``) wired to the daemon.

Its configuration is seeded so no UI is needed.  With a broker: an MQTT config entry for it
(discovery on) and automations that let a test drive it over MQTT: ``test/announce`` calls
``notify.send_message`` on the daemon's notify entity, ``test/select`` sets the default-voice
select, ``test/press`` presses the stop button and ``test/report`` publishes the id and state
of every entity of the daemon's device to ``test/entities``.  With a Wyoming port: a ``wyoming``
config entry for the daemon's Wyoming server, and an owner with a long-lived access token
(:attr:`HomeAssistant.token`) for the REST and websocket APIs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import subprocess
import time
from pathlib import Path

from tests.support.broker import Broker, free_port

VENV = Path(__file__).resolve().parents[2] / ".venv-hass"
VERSION = "2025.4.4"

_BASE = """
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
api:
"""
_AUTOMATIONS = """
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
            {{% set ns = namespace(found=[]) %}}
            {{%- for s in states if s.entity_id.split('.')[1].startswith('{node}_') %}}
            {{%- set ns.found = ns.found + [[s.entity_id, s.state]] %}}
            {{%- endfor %}}
            {{{{- ns.found | tojson }}}}
"""


def _entry(domain: str, entry_id: str, title: str, data: dict, options: dict, minor_version: int) -> dict:
    return {
        "created_at": "2025-01-01T00:00:00+00:00",
        "modified_at": "2025-01-01T00:00:00+00:00",
        "data": data,
        "disabled_by": None,
        "discovery_keys": {},
        "domain": domain,
        "entry_id": entry_id,
        "minor_version": minor_version,
        "version": 1,
        "options": options,
        "pref_disable_new_entities": False,
        "pref_disable_polling": False,
        "source": "user",
        "subentries": [],
        "title": title,
        "unique_id": None,
    }


def _config_entries(broker: Broker | None, wyoming_port: int | None) -> dict:
    entries = []
    if broker is not None:
        entries.append(
            _entry(
                "mqtt",
                "01JVOICEDAEMONTESTMQTT0000",
                "test broker",
                {"broker": "127.0.0.1", "port": broker.port},
                {"discovery": True, "discovery_prefix": "homeassistant"},
                2,
            )
        )
    if wyoming_port is not None:
        entries.append(
            _entry(
                "wyoming",
                "01JVOICEDAEMONTESTWYOMING0",
                "voice-daemon",
                {"host": "127.0.0.1", "port": wyoming_port},
                {},
                1,
            )
        )
    return {"version": 1, "minor_version": 5, "key": "core.config_entries", "data": {"entries": entries}}


def _auth(token_id: str, jwt_key: str) -> dict:
    """An owner (no password: the token is the only way in) with one long-lived access token."""
    groups = [
        {"id": f"system-{name}", "name": title}
        for name, title in (("admin", "Administrators"), ("users", "Users"), ("read-only", "Read Only"))
    ]
    user = {
        "id": "voicedaemontestowner",
        "group_ids": ["system-admin"],
        "is_owner": True,
        "is_active": True,
        "name": "test",
        "system_generated": False,
        "local_only": False,
    }
    token = {
        "id": token_id,
        "user_id": user["id"],
        "client_id": None,
        "client_name": "voice-daemon tests",
        "client_icon": None,
        "token_type": "long_lived_access_token",
        "created_at": "2025-01-01T00:00:00+00:00",
        "access_token_expiration": 315360000.0,
        "token": secrets.token_hex(64),
        "jwt_key": jwt_key,
        "last_used_at": None,
        "last_used_ip": None,
        "expire_at": None,
        "credential_id": None,
        "version": VERSION,
    }
    data = {"users": [user], "groups": groups, "credentials": [], "refresh_tokens": [token]}
    return {"version": 1, "minor_version": 1, "key": "auth", "data": data}


def _jwt(token_id: str, key: str) -> str:
    """The access token Home Assistant issues for refresh token ``token_id``: a JWT signed with HS256."""

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": token_id, "iat": now, "exp": now + 315360000}
    header = {"alg": "HS256", "typ": "JWT"}
    signing = f"{part(json.dumps(header).encode())}.{part(json.dumps(claims).encode())}"
    return f"{signing}.{part(hmac.new(key.encode(), signing.encode(), hashlib.sha256).digest())}"


class HomeAssistant:
    """``hass -c CONFIG_DIR`` as a subprocess, talking to ``broker`` (entities of device ``node``) and/or
    to the daemon's Wyoming server on ``wyoming_port``; its HTTP API on :attr:`url`."""

    def __init__(
        self, root: Path, broker: Broker | None, node: str = "", wyoming_port: int | None = None
    ) -> None:
        self.root = root
        storage = root / ".storage"
        storage.mkdir(parents=True, exist_ok=True)
        (storage / "core.config_entries").write_text(json.dumps(_config_entries(broker, wyoming_port)))
        token_id, jwt_key = secrets.token_hex(16), secrets.token_hex(64)
        (storage / "auth").write_text(json.dumps(_auth(token_id, jwt_key)))
        self.token = _jwt(token_id, jwt_key)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        configuration = _BASE + (_AUTOMATIONS if broker is not None else "")
        (root / "configuration.yaml").write_text(configuration.format(http_port=port, node=node))
        self.log = root / "hass.out"
        self.process: subprocess.Popen | None = None

    @staticmethod
    def installed() -> bool:
        return (VENV / "bin" / "hass").exists()

    def start(self) -> HomeAssistant:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(VENV / "bin" / "hass"), "-c", str(self.root), "--skip-pip"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
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
