"""A real mosquitto broker on a free loopback port, with persistence, and a recording client."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    """``mosquitto`` on 127.0.0.1 with its own config and persistence folder; restartable."""

    def __init__(self, root: Path) -> None:
        if not shutil.which("mosquitto") and not Path("/usr/sbin/mosquitto").exists():
            raise RuntimeError("mosquitto is not installed: run scripts/setup --test as root")
        self.root = root
        self.port = free_port()
        self.config = root / "mosquitto.conf"
        (root / "data").mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {root / 'data'}/\nautosave_interval 1\nuser root\n"
            f"log_dest file {root / 'mosquitto.log'}\nmax_queued_messages 10000\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> Broker:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([binary, "-c", str(self.config)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    detail = self.process.stderr.read() if self.process.stderr else ""
                    raise RuntimeError(f"mosquitto did not start: {detail}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # mosquitto saves its persistence file on SIGTERM
            self.process.wait(10)


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool
    at: float

    def json(self) -> Any:
        return json.loads(self.payload)


class Listener:
    """A test client that records every message on the given topics (persistent session, QoS 1)."""

    def __init__(self, broker: Broker, topics: list[str], client_id: str | None = None) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{time.monotonic_ns()}",
            protocol=paho.MQTTv5,
        )
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe([(topic, 1) for topic in topics])
        self.client.reconnect_delay_set(0.2, 1)
        expiry = Properties(PacketTypes.CONNECT)
        expiry.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", broker.port, clean_start=False, properties=expiry)
        self.client.loop_start()
        self.subscribed = True

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(
                Message(message.topic, message.payload, bool(message.retain), time.monotonic())
            )

    def publish(self, topic: str, payload: str | bytes | dict, qos: int = 1, retain: bool = False) -> None:
        data = json.dumps(payload) if isinstance(payload, dict) else payload
        self.client.publish(topic, data, qos=qos, retain=retain).wait_for_publish(5)

    def on(self, topic: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def on_prefix(self, prefix: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.topic.startswith(prefix)]

    def events(self, request_id: str, topic: str = "voice/event") -> list[dict]:
        return [m.json() for m in self.on(topic) if m.json().get("id") == request_id]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 60, what: str = "message") -> Any:
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                with self._lock:
                    seen = [(m.topic, m.payload[:200]) for m in self.messages[-30:]]
                raise AssertionError(f"no {what} within {timeout} s; last messages: {seen}")
            time.sleep(0.05)
        return result

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
