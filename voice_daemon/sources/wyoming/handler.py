"""The Wyoming protocol of one connection: ``describe``, ``synthesize`` and the streaming events.

The library's typed events are read from the connection (``connection``: bounds, timeouts, the
lingering close) and each is answered.  Events are read all the time, also while audio is sent
(a reply plays in a task of its own), so a client that goes away is noticed at once and cancels
its requests, in the lane or being spoken.  Inside a stream (``synthesize-start`` to
``synthesize-stopped``) a ``synthesize`` is ignored: Home Assistant sends the whole text that
way too, other clients do not.  A ``voice`` is read by ``voices.chosen`` from the event's data:
the library's ``SynthesizeVoice`` drops an explicit ``language`` when a ``name`` is given.

Every refused request is answered alike: one ``failed`` event through the seam, then an
``error`` event whose ``code`` is the error class's ``code``, and the connection closes (after a
lingering read, so the client's library returns the event).  When the daemon stops, each reply
in progress ends with an ``error`` event (``stopping``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol, TypeVar, cast

from wyoming.event import Event, Eventable
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from voice_daemon.core.port import SourcePort, usable
from voice_daemon.core.request import Limits, SpeechRequest, complete_sentences, make_request
from voice_daemon.errors import Busy, RequestError, Starting, Stopping, VoiceDaemonError
from voice_daemon.settings import WyomingSettings
from voice_daemon.sources.lifecycle import Phase
from voice_daemon.sources.wyoming import voices
from voice_daemon.sources.wyoming.connection import Connection, Idle
from voice_daemon.sources.wyoming.framing import BadEvent
from voice_daemon.sources.wyoming.reply import Refused, Reply

log = logging.getLogger(__name__)

SOURCE = "wyoming"
STOP_SECONDS = 1.0  # the most a reply in progress gets to send its error event when the daemon stops
_Typed = TypeVar("_Typed", bound=Eventable)


class Host(Protocol):
    """What a handler needs of the server (``server.WyomingSource``)."""

    settings: WyomingSettings
    seam: SourcePort | None  # None while the daemon starts or stops
    state: Phase
    limits: Limits

    def admit(self, handler: SpeechHandler) -> bool: ...

    def release(self, handler: SpeechHandler) -> None: ...


class SpeechHandler(AsyncEventHandler):
    """The events of one client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: Host) -> None:
        super().__init__(reader, writer)
        self.source = source
        settings = source.settings
        self.connection = Connection(reader, writer, settings.max_event_bytes, settings.timeout_seconds)
        self._playing: dict[asyncio.Task[None], Reply] = {}  # replies being sent, each after the one before
        self._stream: _TextStream | None = None  # between synthesize-start and synthesize-stop

    async def run(self) -> None:
        """Answer events until the client goes, an answer closes the connection, or the daemon stops."""
        if not self.source.admit(self):
            limit = self.source.settings.max_connections
            await self._refuse(Busy(f"{limit} connections are open already; try again shortly"))
            return
        try:
            while self.connection.open and (event := await self._next_event()) is not None:
                if not self.connection.open:  # a reply was refused meanwhile: linger here, the one reader
                    await self.connection.linger()
                    break
                if not await self._answer(event):
                    break
        finally:
            self.source.release(self)
            self._cancel_all()
            if self.connection.open:
                self.connection.close()

    async def handle_event(self, event: Event) -> bool:
        """One event; False closes the connection."""
        if Describe.is_type(event.type):
            await self.connection.send(voices.info(usable(self._seam().voices())).event())
        elif SynthesizeStart.is_type(event.type):
            self._start_stream(voices.chosen(event.data.get("voice")))
        elif SynthesizeChunk.is_type(event.type):
            self._stream_chunk(_text(_typed(SynthesizeChunk, event).text))
        elif SynthesizeStop.is_type(event.type):
            self._stop_stream()
        elif Synthesize.is_type(event.type):
            fields = voices.chosen(event.data.get("voice"))  # first: the library's parser trips on a bad one
            self._synthesize(_text(_typed(Synthesize, event).text), fields)
        elif Ping.is_type(event.type):
            await self.connection.send(Pong(text=event.data.get("text")).event())
        else:
            log.debug("wyoming: ignored a %r event", event.type)
        return True

    async def stop(self) -> None:
        """The daemon is stopping: each reply in progress ends with an ``error`` event (``stopping``)."""
        stopping = Stopping("the daemon is stopping")
        if self._playing:
            log.info(
                "wyoming: the daemon is stopping; %d reply(s) in progress end with an error event",
                len(self._playing),
            )
        for reply in self._playing.values():
            reply.cancel(stopping)
        pending = (await asyncio.wait(list(self._playing), timeout=STOP_SECONDS))[1] if self._playing else ()
        if pending:
            self.connection.abort()  # a client that does not take its error event
        else:
            self.connection.close()
        self.reader.feed_eof()

    # -- reading and answering ------------------------------------------------------------------

    async def _next_event(self) -> Event | None:
        """The next event; None once the client has gone, idled too long, or sent a bad one (answered)."""
        try:
            return await self.connection.next_event(lambda: any(r.busy for r in self._playing.values()))
        except BadEvent as exc:
            await self.connection.refuse(str(exc), "bad_event")
        except Idle as exc:
            await self.connection.refuse(str(exc), "timeout")
        return None

    async def _answer(self, event: Event) -> bool:
        try:
            return await self.handle_event(event)
        except Refused as refused:
            await self._refuse(refused.error, refused.request)
        except VoiceDaemonError as exc:
            await self._refuse(exc)
        except (ConnectionError, TimeoutError):
            self.connection.abort()
        except Exception:  # a bug must close one connection, not the server
            log.exception("wyoming: answering a %r event failed", event.type)
            await self.connection.refuse("internal error (see the daemon's log)", "internal_error")
        return False

    async def _refuse(
        self, error: VoiceDaemonError, request: SpeechRequest | None = None, reading: bool = True
    ) -> None:
        """One ``failed`` event for a request the worker never saw, then the ``error`` event; the
        lingering read follows here when ``reading`` (the caller is the connection's one reader)."""
        self._cancel_all()
        if request is not None and (seam := self.source.seam) is not None:
            seam.refuse(error, request=request)
        else:
            self._refuse_quietly(error)
        if reading:
            await self.connection.refuse(str(error), error.code)
        else:
            await self.connection.end_with_error(str(error), error.code)

    def _refuse_quietly(self, error: VoiceDaemonError) -> None:
        """The ``failed`` event of a payload that never became a request (none while starting or stopping)."""
        if (seam := self.source.seam) is not None and not isinstance(error, Starting | Stopping):
            seam.refuse(error, source=SOURCE, request_id=getattr(error, "request_id", None))

    def _seam(self) -> SourcePort:
        """The seam; Starting or Stopping while the daemon starts or stops."""
        if (seam := self.source.seam) is not None:
            return seam
        if self.source.state == "starting":
            raise Starting("the daemon is starting (loading the model); try again shortly")
        raise Stopping("the daemon is stopping; try again shortly")

    def _cancel_all(self) -> None:
        """Cancel every reply (a reply that refuses goes on in its own task to send its error)."""
        for task, reply in list(self._playing.items()):
            reply.cancel()
            if task is not asyncio.current_task():
                task.cancel()

    # -- requests ------------------------------------------------------------------------------

    def _synthesize(self, text: str, fields: dict[str, str]) -> None:
        if self._stream is not None:
            log.debug("wyoming: a synthesize inside a stream, ignored (its text came as chunks)")
            return
        request = self._request(text, fields)
        reply = self._begin()
        self._add(reply, request)
        reply.end()

    def _start_stream(self, fields: dict[str, str]) -> None:
        if self._stream is not None:
            raise RequestError("synthesize-start inside a stream")
        self._request("-", fields)  # the voice and language, checked now
        self._stream = _TextStream(fields, self.source.limits.max_text_length, self._begin())

    def _stream_chunk(self, text: str) -> None:
        if self._stream is None:
            raise RequestError("synthesize-chunk outside a stream (send synthesize-start first)")
        for sentence in self._stream.add(text):
            self._add(self._stream.reply, self._request(sentence, self._stream.fields))

    def _stop_stream(self) -> None:
        if (stream := self._stream) is None:
            raise RequestError("synthesize-stop outside a stream")
        if rest := stream.finish():
            self._add(stream.reply, self._request(rest, stream.fields))
        if not stream.spoken:
            raise RequestError("text is empty: the stream held no text", field="text")
        self._stream = None
        stream.reply.end(then=SynthesizeStopped().event())

    def _request(self, text: str, fields: dict[str, str]) -> SpeechRequest:
        """A validated request, defaults filled in; RequestError, or Refused (UnknownVoice) with the
        request."""
        seam = self._seam()
        request = make_request({"text": text, **fields}, self.source.limits, source=SOURCE)
        try:
            return seam.resolve(request)
        except VoiceDaemonError as exc:
            raise Refused(exc, request) from None

    def _begin(self) -> Reply:
        """A new reply, played in a task of its own after the one before."""
        before = list(self._playing)
        reply = Reply(self._seam(), self.connection, self.source.settings.keepalive_seconds)
        task = asyncio.ensure_future(self._play(reply, before))
        self._playing[task] = reply
        task.add_done_callback(lambda done: self._playing.pop(done, None))
        return reply

    async def _play(self, reply: Reply, before: list[asyncio.Task[None]]) -> None:
        if before:
            await asyncio.wait(before)
        try:
            await reply.play()
        except Refused as refused:  # the lingering read is the main loop's (run), the one reader
            await self._refuse(refused.error, refused.request, reading=False)
        except VoiceDaemonError as exc:  # the request failed or was cancelled: its failed event is out
            with contextlib.suppress(ConnectionError, TimeoutError):
                if isinstance(exc, Stopping):
                    await self.connection.refuse(str(exc), exc.code, linger=False)
                else:
                    await self.connection.end_with_error(str(exc), exc.code)
        except (ConnectionError, TimeoutError):
            log.info("wyoming: the client went away; its requests are cancelled")
            self.connection.abort()

    def _add(self, reply: Reply, request: SpeechRequest) -> None:
        if self._stream is not None:
            self._stream.spoken = True
        reply.add(request)


class _TextStream:
    """The text of one stream so far: complete sentences leave it, the rest waits; bounded in all."""

    def __init__(self, fields: dict[str, str], max_length: int, reply: Reply) -> None:
        self.fields, self.max_length, self.reply = fields, max_length, reply
        self.rest, self.received, self.spoken = "", 0, False

    def add(self, text: str) -> list[str]:
        self.received += len(text)
        if self.received > self.max_length:
            raise RequestError(
                f"the streamed text is {self.received} characters long, the maximum is {self.max_length}",
                field="text",
            )
        sentences, self.rest = complete_sentences(self.rest + text)
        return sentences

    def finish(self) -> str:
        rest, self.rest = self.rest.strip(), ""
        return rest


def _typed(kind: type[_Typed], event: Event) -> _Typed:
    """The library's typed event; RequestError when its data does not fit."""
    try:
        return cast(_Typed, kind.from_event(event))
    except (KeyError, TypeError, AttributeError, ValueError):
        raise RequestError(f"a {event.type} event whose data does not fit it") from None


def _text(text: Any) -> str:
    if not isinstance(text, str):
        raise RequestError("text must be a string", field="text")
    return text
