"""Accepting requests: every source hands its validated requests to one :class:`Intake`."""

from __future__ import annotations

from .errors import VoiceDaemonError
from .events import Event, EventBus
from .request import Limits, OutputMode, SpeechRequest
from .spool import Spool
from .voices import VoiceRegistry


class Intake:
    """Fills in defaults, checks the voice, spools the request durably and announces it."""

    def __init__(
        self, spool: Spool, registry: VoiceRegistry, events: EventBus, *, voice: str, language: str,
        output: OutputMode, limits: Limits,
    ) -> None:  # fmt: skip
        self.spool = spool
        self.registry = registry
        self.events = events
        self.default_voice = voice
        self.default_language = language
        self.default_output = output
        self.limits = limits

    def submit(self, request: SpeechRequest) -> SpeechRequest:
        """Queue ``request`` (with defaults filled in); raises UnknownVoice, QueueFull, DuplicateRequest."""
        complete = request.model_copy(
            update={
                "voice": request.voice or self.default_voice,
                "language": request.language or self.default_language,
                "output": request.output or self.default_output,
            }
        )
        self.registry.get(complete.voice or "")
        self.spool.submit(complete, on_accepted=lambda: self.events.publish(Event("queued", complete)))
        return complete

    def reject(self, request: SpeechRequest, error: VoiceDaemonError | str) -> None:
        """Announce that a request which never entered the queue has failed."""
        self.events.publish(Event("failed", request, {"error": str(error)}))

    def has_room(self) -> bool:
        return self.spool.has_room()
