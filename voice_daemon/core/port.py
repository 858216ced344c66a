"""What a request source may use of the core: the :class:`SourcePort` protocol, and the values it hands out.

:class:`voice_daemon.core.seam.Seam` is the one real implementation; tests give a source an
in-memory one (``tests/support/fakeseam.py``) to check its rules in milliseconds.  A source
types its seam as ``SourcePort``, so it can use nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from voice_daemon.core.events import Subscriber
from voice_daemon.core.lane import Stream
from voice_daemon.core.request import Limits, SpeechRequest
from voice_daemon.errors import VoiceDaemonError

__all__ = ["DaemonState", "SourcePort", "Stream", "VoiceInfo", "usable"]


@dataclass(frozen=True)
class VoiceInfo:
    """A voice as sources may show it."""

    name: str
    status: str  # "ok", "warning" or "rejected"
    files: tuple[str, ...]
    problems: tuple[str, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "files": list(self.files),
            "problems": list(self.problems),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class DaemonState:
    """A snapshot of what sources may report (the status page, the MQTT status message)."""

    queue_length: int  # durable requests waiting or in progress
    waiting: int  # durable requests waiting
    capacity: int  # queue.max_size
    has_room: bool  # another durable request would be accepted
    interactive_waiting: int
    speaking: bool  # an announcement is being made for the speakers
    current: str | None  # id of the request being synthesised
    default_voice: str  # the voice a request naming none gets
    default_voice_note: str | None  # why that is not the chosen one
    voices: tuple[VoiceInfo, ...]

    def usable_voices(self) -> list[str]:
        return usable(self.voices)


def usable(voices: tuple[VoiceInfo, ...]) -> list[str]:
    """The names of the voices a request may use (not rejected)."""
    return [voice.name for voice in voices if voice.status != "rejected"]


class SourcePort(Protocol):
    """Everything a source may do with the daemon (see ``core.seam`` for the rules of each)."""

    limits: Limits

    # -- requests
    def submit(self, request: SpeechRequest, *, redelivered: bool = False) -> SpeechRequest:
        """Queue ``request`` durably; returns it as queued (defaults filled in)."""

    def stream(self, request: SpeechRequest) -> Stream:
        """Line ``request`` up in the interactive lane; iterate the Stream for its audio."""

    def resolve(self, request: SpeechRequest) -> SpeechRequest:
        """``request`` with the configured voice and language filled in."""

    def refuse(
        self,
        error: VoiceDaemonError | str,
        *,
        request: SpeechRequest | None = None,
        source: str = "",
        request_id: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> None:
        """Answer a request, or a payload that never became one, with its one 'failed' event."""

    # -- single facts (cheap) and the whole snapshot
    def voices(self) -> tuple[VoiceInfo, ...]:
        """Every voice, usable or not, by name."""

    def default_voice(self) -> str:
        """The voice a request naming none gets."""

    def has_room(self) -> bool:
        """Another durable request would be accepted."""

    def queue_length(self) -> int:
        """Durable requests waiting or in progress."""

    def below_half(self) -> bool:
        """At most half of the queue's capacity is waiting (a deferred source may go on)."""

    def state(self) -> DaemonState:
        """Everything at once (builds a full snapshot: for status reports, not single facts)."""

    # -- commands
    def stop_current(self) -> bool:
        """Cut the current announcement short; True if there was one."""

    def set_default_voice(self, name: str) -> None:
        """Make ``name`` the default voice; UnknownVoice if it is not usable."""

    def add_voice(self, name: str, clips: Sequence[tuple[str, bytes]]) -> VoiceInfo:
        """Add voice ``name`` from ``clips`` ((file name, content) pairs)."""

    def remove_voice(self, name: str) -> None:
        """Delete voice ``name``; UnknownVoice if there is none."""

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber`` with every Event and Changed notice (on the publisher's thread)."""
