"""Benchmark (``-m slow``): MQTT request to event latency with the tiny model, through a real broker.

Run: ``.venv/bin/python -m pytest -m slow tests/test_mqtt_latency.py -s``; the figures are
printed and recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import statistics
import time

import pytest

from tests.conftest import mqtt_config
from tests.support.broker import Broker, Listener
from tests.support.daemonproc import FAST, StartDaemon

REQUESTS = 20


@pytest.mark.slow
def test_request_to_event_latency(start_daemon: StartDaemon, broker: Broker, listener: Listener) -> None:
    start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    delays: dict[str, list[float]] = {"queued": [], "started": [], "done": []}
    for n in range(REQUESTS):
        request_id = f"latency-{n}"
        sent = time.monotonic()
        listener.publish("voice/say", {"id": request_id, "text": "The front door is open."})
        listener.wait_for(
            lambda rid=request_id: any(e["state"] == "done" for e in listener.events(rid)), 60, "done"
        )
        arrivals = {
            m.json()["state"]: m.at for m in listener.on("voice/event") if m.json()["id"] == request_id
        }
        assert list(arrivals) == ["queued", "started", "done"]
        for state in delays:
            delays[state].append((arrivals[state] - sent) * 1000)
    for state, values in delays.items():
        print(
            f"publish -> {state}: median {statistics.median(values):.1f} ms, "
            f"min {min(values):.1f} ms, max {max(values):.1f} ms over {REQUESTS}"
        )
