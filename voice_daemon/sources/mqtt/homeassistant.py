"""Home Assistant MQTT discovery: the voice-daemon device and its entities.

Pure payload building; mqtt.py publishes them (retained) on connect, when Home Assistant
announces ``online`` on ``<discovery_prefix>/status``, and when the voices change.
"""

from __future__ import annotations

import json
import re
from typing import Any

from voice_daemon.sources.mqtt.topics import Topics
from voice_daemon.version import __version__


def node_id(client_id: str) -> str:
    """Home Assistant object ids allow letters, digits, ``_`` and ``-``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", client_id)


def discovery_messages(
    topics: Topics, discovery_prefix: str, client_id: str, voices: list[str]
) -> dict[str, str]:
    """Retained config messages by topic: notify, select, two sensors, binary sensor, button."""
    node = node_id(client_id)
    common: dict[str, Any] = {
        "availability_topic": topics.status,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {
            "identifiers": [node],
            "name": f"voice-daemon {client_id.removeprefix('voice-daemon-')}".strip(),
            "manufacturer": "voice-daemon",
            "model": "XTTS v2 voice cloning",
            "sw_version": __version__,
        },
        "origin": {"name": "voice-daemon", "sw_version": __version__},
    }
    entities: dict[tuple[str, str], dict[str, Any]] = {
        ("notify", "announce"): {
            "name": "Announce",
            "command_topic": topics.notify,
            "qos": 1,
            "icon": "mdi:bullhorn",
        },
        ("select", "default_voice"): {
            "name": "Default voice",
            "command_topic": topics.default_voice_set,
            "state_topic": topics.default_voice,
            "options": voices or ["default"],
            "icon": "mdi:account-voice",
            "entity_category": "config",
        },
        ("sensor", "queue"): {
            "name": "Queue",
            "state_topic": topics.queue,
            "state_class": "measurement",
            "unit_of_measurement": "requests",
            "icon": "mdi:tray-full",
        },
        ("sensor", "last_error"): {
            "name": "Last error",
            "state_topic": topics.last_error,
            "icon": "mdi:alert-circle-outline",
            "entity_category": "diagnostic",
        },
        ("binary_sensor", "speaking"): {
            "name": "Speaking",
            "state_topic": topics.speaking,
            "payload_on": "ON",
            "payload_off": "OFF",
            "icon": "mdi:account-voice",
        },
        ("button", "stop"): {
            "name": "Stop announcement",
            "command_topic": topics.stop,
            "payload_press": "PRESS",
            "icon": "mdi:stop",
        },
    }
    return {
        f"{discovery_prefix}/{component}/{node}/{object_id}/config": json.dumps(
            {**common, **config, "unique_id": f"{node}_{object_id}", "object_id": f"{node}_{object_id}"}
        )
        for (component, object_id), config in entities.items()
    }
