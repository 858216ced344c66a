"""The port sources use of the core: the real seam and the test fake both provide all of it, alike."""

from __future__ import annotations

import inspect

import pytest

from tests.support.fakeseam import FakeSeam
from voice_daemon.core.events import Event
from voice_daemon.core.port import SourcePort
from voice_daemon.core.seam import Seam
from voice_daemon.errors import RequestError, UnknownVoice

MEMBERS = sorted(
    name for name in vars(SourcePort) if not name.startswith("_") and callable(vars(SourcePort)[name])
)


@pytest.mark.parametrize("implementation", [Seam, FakeSeam])
def test_the_seam_and_the_fake_have_every_member_of_the_port_with_its_parameters(
    implementation: type,
) -> None:
    assert len(MEMBERS) >= 15
    for name in MEMBERS:
        expected = list(inspect.signature(getattr(SourcePort, name)).parameters)
        assert list(inspect.signature(getattr(implementation, name)).parameters) == expected, name


def test_a_refusal_event_carries_the_error_code_and_the_field_at_fault() -> None:
    event = Event.refusal(RequestError("speed: too fast", field="speed", request_id="r-1"), source="mqtt")
    assert (event.state, event.id, event.source) == ("failed", "r-1", "mqtt")
    assert event.data == {"error": "speed: too fast", "code": "bad_request", "field": "speed"}
    assert Event.refusal(UnknownVoice("unknown voice 'x'")).data["field"] == "voice"
    assert Event.refusal("plain words").data == {"error": "plain words", "code": "synthesis_failed"}
