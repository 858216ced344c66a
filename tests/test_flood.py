"""Benchmark (``-m slow``): a flood of 10,000 refused requests over MQTT; are their events delayed or lost?

Run: ``.venv/bin/python -m pytest -m slow tests/test_flood.py -s``; the figures are printed and
recorded in docs/robustness.md.  To compare with an older commit, run this file (and
``tests/support/hostile.py``) in a checkout of that commit, side by side on the same machine.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from datetime import datetime

import paho.mqtt.client as paho
import pytest

from tests.conftest import mqtt_config
from tests.support.broker import Broker, Listener
from tests.support.daemonproc import FAST, StartDaemon
from tests.support.hostile import memory_mb

REQUESTS = 10_000
_REFUSAL = re.compile(r"^(\S+ \S+) WARNING \S+: request (flood-\d+) failed", re.MULTILINE)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_flood_of_refusals_is_answered_in_full(start_daemon: StartDaemon, broker: Broker) -> None:
    daemon = start_daemon(FAST + mqtt_config(broker))
    subscriber = Listener(broker, ["voice/event", "voice/last_error"])  # QoS 1, as Node-RED would
    subscriber.wait_for(lambda: subscriber.on("voice/last_error") is not None, 5)
    time.sleep(2)
    before = memory_mb(daemon.process.pid)
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    publisher.max_inflight_messages_set(1000)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    started, wall_started = time.monotonic(), time.time()
    infos = [
        publisher.publish("voice/say", json.dumps({"id": f"flood-{n}", "text": "x", "voice": "ghost"}), qos=1)
        for n in range(REQUESTS)
    ]
    infos[-1].wait_for_publish(120)
    published = time.monotonic() - started
    subscriber.wait_for(lambda: len(subscriber.on("voice/event")) >= REQUESTS, 300, "every event")
    time.sleep(2)
    events = subscriber.on("voice/event")
    refused = {
        request_id: _wall(stamp) - wall_started for stamp, request_id in _REFUSAL.findall(daemon.log())
    }
    lags = sorted(message.at - started - refused[message.json()["id"]] for message in events)
    figures = {
        "published_s": round(published, 2),
        "refused_within_s": round(max(refused.values()), 2),
        "events": len(events),
        "last_event_s": round(events[-1].at - started, 2),
        "lag_p50_s": round(statistics.median(lags), 2),
        "lag_max_s": round(lags[-1], 2),
        "last_error_messages": len(subscriber.on("voice/last_error")),
        "rss_growth_mb": round(memory_mb(daemon.process.pid)["VmRSS"] - before["VmRSS"]),
    }
    print(f"\nflood of {REQUESTS} refusals: {json.dumps(figures)}")
    publisher.loop_stop()
    subscriber.close()
    assert len(events) == REQUESTS and len({message.json()["id"] for message in events}) == REQUESTS


def _wall(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
