"""An in-memory :class:`voice_daemon.core.port.SourcePort` for testing a source's rules in milliseconds.

It keeps what a source did (``submitted``, ``streams``, ``notices``, ``commands``) and answers
like the real seam: the same refusal event (``Event.refusal``), UnknownVoice for a voice it
does not have, QueueFull when ``capacity`` requests are queued, Busy when ``busy`` is set.  A
stream is served by ``serve`` (default: a short tone, then 'done'); :meth:`FakeSeam.failing`
makes streams fail instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from voice_daemon.core.events import Changed, Event, Notice, Subscriber
from voice_daemon.core.port import DaemonState, Stream, VoiceInfo
from voice_daemon.core.request import Limits, SpeechRequest
from voice_daemon.core.spool import Outcome
from voice_daemon.errors import Busy, DuplicateRequest, IdInUse, QueueFull, UnknownVoice, VoiceDaemonError

TONE = (0.1 * np.sin(np.arange(4800) * 2 * np.pi * 440 / 24000)).astype(np.float32)  # 0.2 s at 24 kHz


class FakeSeam:
    """The seam, with no worker, queue folder or model behind it."""

    def __init__(
        self,
        voices: Sequence[str] = ("alice", "bob"),
        *,
        default: str = "alice",
        language: str = "en",
        limits: Limits | None = None,
        capacity: int = 10,
    ) -> None:
        self.limits = limits or Limits()
        self.language, self.capacity, self.busy = language, capacity, False
        self._voices = {name: VoiceInfo(name, "ok", (f"{name}.wav",), (), ()) for name in voices}
        self._default = default
        self.submitted: list[SpeechRequest] = []  # queued, not yet ended
        self.outcomes: dict[str, Outcome] = {}  # ended, by id
        self.streams: list[Stream] = []
        self.notices: list[Notice] = []
        self.commands: list[tuple[Any, ...]] = []
        self.playing = False  # stop_current finds an announcement to stop
        self.serve: Callable[[Stream], None] = self.speak
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    # -- what happened

    @property
    def events(self) -> list[Event]:
        return [notice for notice in self.notices if isinstance(notice, Event)]

    @property
    def failures(self) -> list[Event]:
        """Every 'failed' event, refusals included."""
        return [event for event in self.events if event.state == "failed"]

    def publish(self, notice: Notice) -> None:
        with self._lock:
            self.notices.append(notice)
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber(notice)

    # -- serving streams

    def speak(self, stream: Stream, chunks: Sequence[np.ndarray] = (TONE, TONE)) -> None:
        """Serve ``stream`` with ``chunks`` and end it as 'done'."""
        self.publish(Event.of("started", stream.request))
        for chunk in chunks:
            stream.feed(chunk)
        facts = {"audio_seconds": round(sum(len(chunk) for chunk in chunks) / stream.sample_rate, 3)}
        stream.finish(facts)
        self.publish(Event.of("done", stream.request, facts))

    def failing(self, error: VoiceDaemonError, after: int = 0) -> FakeSeam:
        """Make every stream fail with ``error`` after ``after`` chunks."""

        def fail(stream: Stream) -> None:
            self.publish(Event.of("started", stream.request))
            for _ in range(after):
                stream.feed(TONE)
            stream.fail(error)
            self.publish(Event.refusal(error, request=stream.request))

        self.serve = fail
        return self

    # -- the port

    def end(self, request_id: str, state: Literal["done", "failed"] = "done", **data: Any) -> Event:
        """End queued request ``request_id`` as the worker would, with its final event."""
        request = next(r for r in self.submitted if r.id == request_id)
        self.submitted.remove(request)
        self.outcomes[request_id] = Outcome(state, data, request)
        event = Event.of(state, request, data)
        self.publish(event)
        return event

    def submit(self, request: SpeechRequest, *, redelivered: bool = False) -> SpeechRequest:
        """As ``core.spool`` decides: a second delivery or a same-content resend is a DuplicateRequest,
        a queued id for other content IdInUse; a new request may reuse a finished one's id."""
        complete = self.resolve(request)
        queued = next((r for r in self.submitted if r.id == complete.id), None)
        if queued is not None:
            if redelivered or queued.content() == complete.content():
                raise DuplicateRequest(f"request {complete.id} is already queued")
            raise IdInUse(f"request id {complete.id!r} is already queued for another text; use a new id")
        if redelivered and complete.id in self.outcomes:
            raise DuplicateRequest(
                f"request {complete.id} was already served", outcome=self.outcomes[complete.id]
            )
        if len(self.submitted) >= self.capacity:
            raise QueueFull(f"the queue is full ({self.capacity} requests)")
        self.submitted.append(complete)
        self.publish(Event.of("queued", complete))
        return complete

    def stream(self, request: SpeechRequest) -> Stream:
        complete = self.resolve(request).model_copy(update={"output": None})
        if self.busy:
            raise Busy("1 interactive requests are waiting already; try again shortly")
        stream = Stream(complete)
        self.streams.append(stream)
        self.publish(Event.of("queued", complete))
        self.serve(stream)
        return stream

    def resolve(self, request: SpeechRequest) -> SpeechRequest:
        voice = request.voice or self._default
        if voice not in self._voices:
            raise UnknownVoice(f"unknown voice {voice!r}")
        return request.model_copy(update={"voice": voice, "language": request.language or self.language})

    def refuse(
        self,
        error: VoiceDaemonError | str,
        *,
        request: SpeechRequest | None = None,
        source: str = "",
        request_id: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> None:
        self.publish(
            Event.refusal(error, request=request, source=source, request_id=request_id, context=context)
        )

    def voices(self) -> tuple[VoiceInfo, ...]:
        return tuple(self._voices[name] for name in sorted(self._voices))

    def default_voice(self) -> str:
        return self._default

    def has_room(self) -> bool:
        return len(self.submitted) < self.capacity

    def queue_length(self) -> int:
        return len(self.submitted)

    def below_half(self) -> bool:
        return len(self.submitted) <= self.capacity // 2

    def state(self) -> DaemonState:
        return DaemonState(
            queue_length=len(self.submitted),
            waiting=len(self.submitted),
            capacity=self.capacity,
            has_room=self.has_room(),
            interactive_waiting=0,
            speaking=self.playing,
            current=None,
            default_voice=self._default,
            default_voice_note=None,
            voices=self.voices(),
        )

    def stop_current(self) -> bool:
        self.commands.append(("stop",))
        was, self.playing = self.playing, False
        return was

    def set_default_voice(self, name: str) -> None:
        if name not in self._voices:
            raise UnknownVoice(f"unknown voice {name!r}")
        self.commands.append(("default_voice", name))
        self._default = name
        self.publish(Changed("default_voice"))

    def add_voice(self, name: str, clips: Sequence[tuple[str, bytes]]) -> VoiceInfo:
        self.commands.append(("add_voice", name, [file for file, _ in clips]))
        self._voices[name] = info = VoiceInfo(name, "ok", tuple(file for file, _ in clips), (), ())
        self.publish(Changed("voices"))
        return info

    def remove_voice(self, name: str) -> None:
        if name not in self._voices:
            raise UnknownVoice(f"unknown voice {name!r}")
        self.commands.append(("remove_voice", name))
        del self._voices[name]
        self.publish(Changed("voices"))

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)
