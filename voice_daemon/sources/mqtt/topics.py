"""The MQTT topics of one daemon, all below ``mqtt.topic_prefix`` (default ``voice``)."""

from __future__ import annotations

from dataclasses import dataclass

_SUFFIXES = {
    "say": "say",  # requests: JSON or plain text
    "say_voice": "say/+",  # requests with the voice fixed by the last level
    "notify": "notify",  # Home Assistant notify entity: the message is the text
    "event": "event",  # queued / started / done / failed per request
    "status": "status",  # retained online / offline (also the last will)
    "voices": "voices",  # retained list of voices with their status
    "stop": "stop",  # stop the current announcement
    "default_voice": "default_voice",  # retained state of the default voice
    "default_voice_set": "default_voice/set",  # command: change the default voice
    "queue": "queue",  # retained number of requests waiting or in progress
    "speaking": "speaking",  # retained ON / OFF
    "last_error": "last_error",  # retained text of the last failure
}


@dataclass(frozen=True)
class Topics:
    """Topic names; build with :meth:`under`."""

    say: str
    say_voice: str
    notify: str
    event: str
    status: str
    voices: str
    stop: str
    default_voice: str
    default_voice_set: str
    queue: str
    speaking: str
    last_error: str

    @classmethod
    def under(cls, prefix: str) -> Topics:
        return cls(**{name: f"{prefix}/{suffix}" for name, suffix in _SUFFIXES.items()})
