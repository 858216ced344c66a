"""One Wyoming request's reply: its sentences lined up in the interactive lane, their audio sent
back as it is made, between one ``audio-start`` and one ``audio-stop``.

A one-shot ``synthesize`` is one sentence-group (the worker splits it as it splits any text); a
stream adds each sentence as soon as it is complete.  At most :data:`AHEAD` of a reply's
requests are in the lane at once: the next sentence waits in line while one is spoken, so the
worker goes straight on to it, and a long reply cannot fill the lane.  Audio moves from each
Stream onto the event loop with ``Stream.audio`` (no thread), which also lets a client that
stops reading go.

Once ``audio-start`` was sent, no more than ``keepalive_seconds`` pass without an
``audio-chunk``: while the text or the synthesis is behind, short silent chunks (in the one
format of the reply) keep a satellite from giving up.  They are counted in the ``done`` event
of the sentence they came before (``keepalive_seconds``); none is sent once the last real audio
has been.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event

from voice_daemon.audio import pcm16
from voice_daemon.core.port import SourcePort, Stream
from voice_daemon.core.request import SpeechRequest
from voice_daemon.errors import Busy, VoiceDaemonError
from voice_daemon.sources.wyoming.connection import Connection

AHEAD = 2  # requests of one reply in the lane at once
RATE, WIDTH, CHANNELS = Stream.sample_rate, 2, 1
SILENCE_SECONDS = 0.1  # one keep-alive chunk


class Refused(Exception):
    """``error`` refused ``request`` before it reached the worker: answer it (one ``failed`` event)."""

    def __init__(self, error: VoiceDaemonError, request: SpeechRequest | None = None) -> None:
        super().__init__(str(error))
        self.error, self.request = error, request


class Reply:
    """The audio for one request (one ``synthesize``, or one stream of ``synthesize-chunk``\\ s)."""

    def __init__(self, seam: SourcePort, connection: Connection, keepalive_seconds: float) -> None:
        self._seam, self._connection, self._keepalive = seam, connection, keepalive_seconds
        self._texts: deque[SpeechRequest] = deque()  # complete, not yet lined up
        self._streams: deque[Stream] = deque()  # lined up, in order
        self._changed = asyncio.Event()
        self._ended = False
        self._error: VoiceDaemonError | None = None  # why it was cancelled, raised while waiting for text
        self._then: Event | None = None
        self._last_audio = 0.0  # loop time of the last audio-chunk sent
        self._silence = 0.0  # seconds of keep-alive silence not yet counted in a stream's notes
        self.started = False  # audio-start sent

    @property
    def busy(self) -> bool:
        """Requests of this reply are waiting or being spoken (its client is waiting for audio)."""
        return bool(self._texts or self._streams)

    def add(self, request: SpeechRequest) -> None:
        """Speak ``request`` after what came before; Refused if it cannot be lined up."""
        self._texts.append(request)
        self._line_up()

    def end(self, then: Event | None = None) -> None:
        """No more requests will come; ``then`` is sent after ``audio-stop`` (``synthesize-stopped``)."""
        self._ended, self._then = True, then
        self._changed.set()

    def cancel(self, error: VoiceDaemonError | None = None) -> None:
        """Stop every request of this reply (``error``: why, raised by :meth:`play`; default: the
        client went away)."""
        for stream in self._streams:
            stream.cancel(error)
        self._texts.clear()
        if error is not None and self._error is None:
            self._error = error
            self._changed.set()

    async def play(self) -> None:
        """Send the audio of every request, in order, until :meth:`end`; then ``audio-stop``.

        Raises what a request failed with (its ``failed`` event is published), or Refused.
        """
        keeping = asyncio.ensure_future(self._keep_alive())
        try:
            while (stream := await self._next()) is not None:
                await self._send_stream(stream)
                self._streams.popleft()
                self._line_up()
        finally:
            keeping.cancel()
            self.cancel()
        if not self.started:
            await self._start()
        await self._connection.send(AudioStop().event())
        if self._then is not None:
            await self._connection.send(self._then)

    async def _send_stream(self, stream: Stream) -> None:
        connection = self._connection
        base = connection.received.samples_written  # the audio sent before this stream's
        audio = stream.audio(
            lambda: max(0, connection.received.samples() - base),
            stall_seconds=connection.timeout,
            on_stall=connection.abort,
        )
        async for chunk in audio:
            await self._audio(pcm16(chunk), len(chunk))

    async def _next(self) -> Stream | None:
        while not self._streams:
            if self._error is not None:
                raise self._error
            if self._ended and not self._texts:
                return None
            self._changed.clear()
            await self._changed.wait()
        return self._streams[0]

    def _line_up(self) -> None:
        """Move requests into the lane while fewer than AHEAD of ours are there; Refused (Busy) only
        when none is."""
        while self._texts and len(self._streams) < AHEAD:
            try:
                stream = self._seam.stream(self._texts[0])
            except Busy as exc:
                if not self._streams:
                    raise Refused(exc, self._texts.popleft()) from None
                return  # ours is in line already: this one follows when it is done
            except VoiceDaemonError as exc:
                raise Refused(exc, self._texts.popleft()) from None
            self._texts.popleft()
            self._streams.append(stream)
            self._count_silence()
            self._changed.set()

    def _count_silence(self) -> None:
        """Keep-alive silence sent so far goes into the notes of the sentence it came before."""
        if self._silence and self._streams:
            notes = self._streams[0].notes
            notes["keepalive_seconds"] = round(notes.get("keepalive_seconds", 0) + self._silence, 3)
            self._silence = 0.0

    async def _start(self) -> None:
        self.started = True
        self._last_audio = asyncio.get_running_loop().time()
        await self._connection.send(AudioStart(rate=RATE, width=WIDTH, channels=CHANNELS).event())

    async def _audio(self, audio: bytes, samples: int) -> None:
        """One ``audio-chunk``; ``samples`` of the stream's own audio in it (0: keep-alive silence)."""
        if not self.started:
            await self._start()
        self._last_audio = asyncio.get_running_loop().time()
        event = AudioChunk(rate=RATE, width=WIDTH, channels=CHANNELS, audio=audio).event()
        await self._connection.send(event, samples)

    async def _keep_alive(self) -> None:
        """Silent chunks while audio has begun and more is to come, one per ``keepalive_seconds`` of none."""
        loop, silence = asyncio.get_running_loop(), bytes(round(SILENCE_SECONDS * RATE) * WIDTH)
        while True:
            due = self._last_audio + self._keepalive
            if loop.time() < due or not self.started:
                await asyncio.sleep(max(due - loop.time(), 0.05))
                continue
            self._silence += SILENCE_SECONDS
            self._count_silence()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await self._audio(silence, 0)
