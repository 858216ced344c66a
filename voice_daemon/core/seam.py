"""The seam: everything a request source may do with the daemon, and nothing else.

A source turns its input into a :class:`SpeechRequest` (``core.request``) and then only calls a
:class:`Seam`: submit it to the durable queue, or stream it back to a waiting caller through the
interactive lane; refuse a payload that never became a request; read the daemon's state; stop
the current announcement or change the default voice; add or remove a voice; subscribe to
events.  Every refusal of every source is a ``failed`` event published here, so all sources
answer alike.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from voice_daemon.core.events import Changed, Event, EventBus, Subscriber
from voice_daemon.core.lane import DEFAULT_LOOKAHEAD_SECONDS, Lane, Stream
from voice_daemon.core.port import DaemonState, VoiceInfo
from voice_daemon.core.request import Limits, SpeechRequest
from voice_daemon.core.spool import Spool
from voice_daemon.core.state import DefaultVoice
from voice_daemon.core.worker import Worker
from voice_daemon.errors import VoiceDaemonError
from voice_daemon.files import storage_error
from voice_daemon.settings import OutputMode
from voice_daemon.voices import uploads
from voice_daemon.voices.registry import Voice, VoiceRegistry

log = logging.getLogger(__name__)


def voice_info(voice: Voice) -> VoiceInfo:
    """``voice`` as sources may show it."""
    files = tuple(path.name for path in voice.files)
    return VoiceInfo(voice.name, voice.status, files, tuple(voice.problems), tuple(voice.warnings))


class Seam:
    """The one interface between request sources and the core (it implements ``core.port.SourcePort``)."""

    def __init__(
        self,
        spool: Spool,
        lane: Lane,
        worker: Worker,
        registry: VoiceRegistry,
        events: EventBus,
        default_voice: DefaultVoice,
        *,
        language: str,
        output: OutputMode,
        limits: Limits,
    ) -> None:
        self._spool, self._lane, self._worker, self._registry = spool, lane, worker, registry
        self._events, self._default_voice = events, default_voice
        self._language, self._output = language, output
        self.limits = limits
        self.lookahead_seconds = DEFAULT_LOOKAHEAD_SECONDS  # queue.lookahead_seconds: see Stream.ready
        self._voices_lock = threading.Lock()  # one addition or removal at a time
        registry.listeners.append(self._voices_changed)

    # -- requests -----------------------------------------------------------------------------

    def submit(self, request: SpeechRequest, *, redelivered: bool = False) -> SpeechRequest:
        """Queue ``request`` durably (defaults filled in) and announce it; returns it as queued.

        Raises UnknownVoice, QueueFull, IdInUse, DuplicateRequest (a second delivery, see
        ``core.spool``: nothing to answer) and StorageError (the queue folder cannot be written).
        """
        complete = self._completed(request, output=request.output or self._output)
        try:
            self._spool.submit(
                complete, lambda: self._events.publish(Event.of("queued", complete)), redelivered
            )
        except OSError as exc:
            raise storage_error(exc, self._spool.root, "queue folder") from None
        return complete

    def stream(self, request: SpeechRequest) -> Stream:
        """Line ``request`` up in the interactive lane; iterate the Stream for its audio.

        Raises UnknownVoice and Busy (the lane is full).  Cancel the Stream when the caller goes.
        """
        stream = Stream(self._completed(request, output=None), self.lookahead_seconds)
        self._lane.put(stream, lambda: self._events.publish(Event.of("queued", stream.request)))
        return stream

    def resolve(self, request: SpeechRequest) -> SpeechRequest:
        """``request`` with the configured voice and language filled in; UnknownVoice if its voice is
        not usable."""
        return self._completed(request, output=request.output)

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
        self._events.publish(
            Event.refusal(error, request=request, source=source, request_id=request_id, context=context)
        )

    # -- state and commands ---------------------------------------------------------------------

    def voices(self) -> tuple[VoiceInfo, ...]:
        """Every voice, usable or not, by name."""
        return tuple(voice_info(voice) for voice in self._registry.all())

    def default_voice(self) -> str:
        """The voice a request naming none gets."""
        return self._default_voice.resolve()

    def has_room(self) -> bool:
        """Another durable request would be accepted."""
        return self._spool.has_room()

    def queue_length(self) -> int:
        """Durable requests waiting or in progress."""
        return len(self._spool)

    def below_half(self) -> bool:
        """At most half of the queue's capacity is waiting."""
        return self._spool.pending() <= self._spool.max_size // 2

    def state(self) -> DaemonState:
        """Everything sources may report, at once (use the single facts above for one of them)."""
        current = self._worker.current
        announcing = self._worker.announcing
        return DaemonState(
            queue_length=self.queue_length(),
            waiting=self._spool.pending(),
            capacity=self._spool.max_size,
            has_room=self.has_room(),
            interactive_waiting=len(self._lane),
            speaking=announcing is not None and announcing.output in ("play", "both"),
            current=current.id if current is not None else None,
            default_voice=self.default_voice(),
            default_voice_note=self._default_voice.note(),
            voices=self.voices(),
        )

    def stop_current(self) -> bool:
        """Cut the current announcement short; True if there was one."""
        return self._worker.stop_current()

    def set_default_voice(self, name: str) -> None:
        """Make ``name`` the default voice, kept across restarts; UnknownVoice if it is not usable."""
        self._default_voice.choose(name)
        self._events.publish(Changed("default_voice"))

    def add_voice(self, name: str, clips: Sequence[tuple[str, bytes]]) -> VoiceInfo:
        """Add voice ``name`` from ``clips`` ((file name, content) pairs), usable at once.

        Every clip gets the watched folder's checks; only when all pass is the voice written (atomically)
        into ``paths.voices``.  Raises RequestError (bad or taken name, no clip), ReferenceRejected
        (every rejected clip and why; nothing was written) and StorageError.
        """
        with self._voices_lock, self._storing():
            return voice_info(uploads.add_voice(self._registry, name, clips))

    def remove_voice(self, name: str) -> None:
        """Delete voice ``name`` from ``paths.voices``; UnknownVoice if there is none, StorageError."""
        with self._voices_lock, self._storing():
            uploads.remove_voice(self._registry, name)

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber`` with every Event and Changed notice (on the publisher's thread: be quick)."""
        self._events.subscribe(subscriber)

    # -- inside ---------------------------------------------------------------------------------

    def _completed(self, request: SpeechRequest, output: OutputMode | None) -> SpeechRequest:
        """``request`` with the configured defaults filled in; UnknownVoice if its voice is not usable."""
        complete = request.model_copy(
            update={
                "voice": request.voice or self._default_voice.resolve(),
                "language": request.language or self._language,
                "output": output,
            }
        )
        self._registry.get(complete.voice or "")
        return complete

    @contextmanager
    def _storing(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise storage_error(exc, self._registry.voices_dir, "voices folder") from None

    def _voices_changed(self) -> None:
        self._events.publish(Changed("voices"))
        self._events.publish(
            Changed("default_voice")
        )  # the voice a request naming none gets may have changed
