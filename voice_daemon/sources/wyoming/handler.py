"""One Wyoming connection: ``describe``, ``synthesize`` and the streaming events, each answered.

Events are read all the time, also while audio is sent (a reply plays in a task of its own), so
a client that goes away is noticed at once and cancels its requests, in the lane or being
spoken.  Inside a stream (``synthesize-start`` to ``synthesize-stopped``) a ``synthesize`` is
ignored: Home Assistant sends the whole text that way too, other clients do not.  A refused
request gets an ``error`` event and the connection is closed, so a client waiting for audio
never hangs; the daemon goes on serving the others.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from voice_daemon.core.request import Limits, SpeechRequest, complete_sentences, make_request
from voice_daemon.core.seam import Seam
from voice_daemon.errors import Busy, RequestError, UnknownVoice, VoiceDaemonError
from voice_daemon.settings import WyomingSettings
from voice_daemon.sources.wyoming import voices
from voice_daemon.sources.wyoming.framing import BadEvent, BoundedReader, read_event
from voice_daemon.sources.wyoming.reply import Reply

log = logging.getLogger(__name__)

SOURCE = "wyoming"
_IDLE_CHECK_SECONDS = 1.0


class Closing(Exception):
    """Answered with an ``error`` event: the connection closes."""

    def __init__(self, text: str, code: str) -> None:
        super().__init__(text)
        self.code = code


class Host(Protocol):
    """What a handler needs of the server (``server.WyomingSource``)."""

    settings: WyomingSettings
    seam: Seam | None  # None while the daemon starts or stops
    state: str  # "starting", "ready" or "stopping"
    limits: Limits

    def admit(self, handler: SpeechHandler) -> bool: ...

    def release(self, handler: SpeechHandler) -> None: ...


class SpeechHandler(AsyncEventHandler):
    """The events of one client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: Host) -> None:
        super().__init__(reader, writer)
        self.source = source
        self.bounded = BoundedReader(reader, source.settings.max_event_bytes)
        self._playing: dict[asyncio.Task[None], Reply] = {}  # replies being sent, each after the one before
        self._stream: _TextStream | None = None  # between synthesize-start and synthesize-stop

    async def run(self) -> None:
        """Answer events until the client goes, an answer closes the connection, or the daemon stops."""
        if not self.source.admit(self):
            limit = self.source.settings.max_connections
            await self._error(f"{limit} connections are open already; try again shortly", "busy")
            self.writer.close()
            return
        try:
            while (event := await self._next_event()) is not None and await self._answer(event):
                pass
        finally:
            self.source.release(self)
            await self.disconnect()

    async def handle_event(self, event: Event) -> bool:
        """One event; False closes the connection."""
        if Describe.is_type(event.type):
            await self.write_event(voices.info(self._seam().state().usable_voices()).event())
        elif SynthesizeStart.is_type(event.type):
            self._start_stream(event.data)
        elif SynthesizeChunk.is_type(event.type):
            self._stream_chunk(event.data)
        elif SynthesizeStop.is_type(event.type):
            self._stop_stream()
        elif Synthesize.is_type(event.type):
            self._synthesize(event.data)
        elif Ping.is_type(event.type):
            await self._send(Pong(text=event.data.get("text")).event())
        else:
            log.debug("wyoming: ignored a %r event", event.type)
        return True

    async def disconnect(self) -> None:
        """The connection is over: every request of it is cancelled, waiting or being spoken."""
        for task, reply in list(self._playing.items()):
            reply.cancel()
            task.cancel()
        self.writer.close()

    # -- reading and answering ------------------------------------------------------------------

    async def _next_event(self) -> Event | None:
        """The next event; None once the client has gone, idled too long, or sent a bad one (answered)."""
        reading = asyncio.ensure_future(read_event(self.bounded))
        loop, timeout = asyncio.get_running_loop(), self.source.settings.timeout_seconds
        deadline = loop.time() + timeout
        try:
            while not (await asyncio.wait({reading}, timeout=min(_IDLE_CHECK_SECONDS, timeout)))[0]:
                if any(reply.busy for reply in self._playing.values()):  # waiting for audio is not idle
                    deadline = loop.time() + timeout
                elif loop.time() >= deadline:
                    raise Closing(f"no event for {timeout:g} s", "timeout")
            return reading.result()
        except BadEvent as exc:
            await self._error(str(exc), "bad_event")
        except Closing as exc:
            await self._error(str(exc), exc.code)
        except ConnectionError:
            pass
        finally:
            reading.cancel()
        return None

    async def _answer(self, event: Event) -> bool:
        try:
            return await self.handle_event(event)
        except Closing as exc:
            await self._error(str(exc), exc.code)
        except VoiceDaemonError as exc:
            await self._error(str(exc), _code(exc))
        except (ConnectionError, TimeoutError):
            pass
        except Exception:  # a bug must close one connection, not the server
            log.exception("wyoming: answering a %r event failed", event.type)
            await self._error("internal error (see the daemon's log)", "internal_error")
        return False

    async def _send(self, event: Event) -> None:
        """Write ``event``; TimeoutError when the client has not read for ``timeout_seconds``."""
        await asyncio.wait_for(self.write_event(event), self.source.settings.timeout_seconds)

    async def _error(self, text: str, code: str) -> None:
        log.info("wyoming: %s (%s); closing the connection", text, code)
        try:
            await self._send(Error(text=text, code=code).event())
        except (ConnectionError, TimeoutError):
            pass

    def _seam(self) -> Seam:
        """The seam; Closing while the daemon starts or stops."""
        if (seam := self.source.seam) is None:
            why = "starting (loading the model)" if self.source.state == "starting" else self.source.state
            raise Closing(f"the daemon is {why}; try again shortly", self.source.state)
        return seam

    # -- requests ------------------------------------------------------------------------------

    def _synthesize(self, data: dict[str, Any]) -> None:
        if self._stream is not None:
            log.debug("wyoming: a synthesize inside a stream, ignored (its text came as chunks)")
            return
        text = data.get("text")
        if not isinstance(text, str):
            raise RequestError("text must be a string")
        request = self._request(text, voices.chosen(data.get("voice")))
        reply = self._begin()
        self._add(reply, request)
        reply.end()

    def _start_stream(self, data: dict[str, Any]) -> None:
        if self._stream is not None:
            raise Closing("synthesize-start inside a stream", "bad_order")
        fields = voices.chosen(data.get("voice"))
        self._request("-", fields)  # the voice and language, checked now
        self._stream = _TextStream(fields, self.source.limits.max_text_length, self._begin())

    def _stream_chunk(self, data: dict[str, Any]) -> None:
        if self._stream is None:
            raise Closing("synthesize-chunk outside a stream (send synthesize-start first)", "bad_order")
        text = data.get("text")
        if not isinstance(text, str):
            raise RequestError("text must be a string")
        for sentence in self._stream.add(text):
            self._add(self._stream.reply, self._request(sentence, self._stream.fields))

    def _stop_stream(self) -> None:
        if (stream := self._stream) is None:
            raise Closing("synthesize-stop outside a stream", "bad_order")
        if rest := stream.finish():
            self._add(stream.reply, self._request(rest, stream.fields))
        if not stream.spoken:
            raise RequestError("text is empty: the stream held no text")
        self._stream = None
        stream.reply.end(then=SynthesizeStopped().event())

    def _request(self, text: str, fields: dict[str, str]) -> SpeechRequest:
        """A validated request, defaults filled in; RequestError or UnknownVoice (refused) otherwise."""
        seam = self._seam()
        try:
            request = make_request({"text": text, **fields}, self.source.limits, source=SOURCE)
        except RequestError as exc:
            seam.refuse(exc, source=SOURCE)
            raise
        try:
            return seam.resolve(request)
        except UnknownVoice as exc:
            seam.refuse(exc, request=request)
            raise

    def _begin(self) -> Reply:
        """A new reply, played in a task of its own after the one before."""
        before = list(self._playing)
        reply = Reply(self._seam(), self._send)
        task = asyncio.ensure_future(self._play(reply, before))
        self._playing[task] = reply
        task.add_done_callback(lambda done: self._playing.pop(done, None))
        return reply

    async def _play(self, reply: Reply, before: list[asyncio.Task[None]]) -> None:
        if before:
            await asyncio.wait(before)
        try:
            await reply.play()
        except VoiceDaemonError as exc:
            await self._error(str(exc), _code(exc))
            self.writer.close()
        except (ConnectionError, TimeoutError):
            log.info("wyoming: the client stopped reading or went away; its request is cancelled")
            self.writer.transport.abort()

    def _add(self, reply: Reply, request: SpeechRequest) -> None:
        if self._stream is not None:
            self._stream.spoken = True
        try:
            reply.add(request)
        except VoiceDaemonError as exc:
            self._seam().refuse(exc, request=request)
            raise


class _TextStream:
    """The text of one stream so far: complete sentences leave it, the rest waits; bounded in all."""

    def __init__(self, fields: dict[str, str], max_length: int, reply: Reply) -> None:
        self.fields, self.max_length, self.reply = fields, max_length, reply
        self.rest, self.received, self.spoken = "", 0, False

    def add(self, text: str) -> list[str]:
        self.received += len(text)
        if self.received > self.max_length:
            raise RequestError(
                f"the streamed text is {self.received} characters long, the maximum is {self.max_length}"
            )
        sentences, self.rest = complete_sentences(self.rest + text)
        return sentences

    def finish(self) -> str:
        rest, self.rest = self.rest.strip(), ""
        return rest


def _code(exc: VoiceDaemonError) -> str:
    if isinstance(exc, UnknownVoice):
        return "unknown_voice"
    if isinstance(exc, Busy):
        return "busy"
    if isinstance(exc, RequestError):
        return "bad_request"
    return "synthesis_failed"
