"""One Wyoming request's reply: its sentences lined up in the interactive lane, their audio sent
back as it is made, between one ``audio-start`` and one ``audio-stop``.

A one-shot ``synthesize`` is one sentence-group (the worker splits it as it splits any text); a
stream adds each sentence as soon as it is complete.  At most :data:`AHEAD` of a reply's
requests are in the lane at once: the next sentence waits in line while one is spoken, so the
worker goes straight on to it, and a long reply cannot fill the lane.  Synthesis never runs on
the event loop: a thread per request moves its chunks from the Stream onto the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event

from voice_daemon.audio import pcm16
from voice_daemon.core.request import SpeechRequest
from voice_daemon.core.seam import Seam, Stream
from voice_daemon.errors import Busy, VoiceDaemonError

log = logging.getLogger(__name__)

AHEAD = 2  # requests of one reply in the lane at once
RATE, WIDTH, CHANNELS = Stream.sample_rate, 2, 1
_END = object()

Send = Callable[[Event], Awaitable[None]]


class Reply:
    """The audio for one request (one ``synthesize``, or one stream of ``synthesize-chunk``\\ s)."""

    def __init__(self, seam: Seam, send: Send) -> None:
        self._seam, self._send = seam, send
        self._texts: deque[SpeechRequest] = deque()  # complete, not yet lined up
        self._streams: deque[Stream] = deque()  # lined up, in order
        self._changed = asyncio.Event()
        self._ended = False
        self._then: Event | None = None
        self.started = False  # audio-start sent

    @property
    def busy(self) -> bool:
        """Requests of this reply are waiting or being spoken (its client is waiting for audio)."""
        return bool(self._texts or self._streams)

    def add(self, request: SpeechRequest) -> None:
        """Speak ``request`` after what came before; raises Busy or UnknownVoice if it cannot be lined up."""
        self._texts.append(request)
        self._line_up()

    def end(self, then: Event | None = None) -> None:
        """No more requests will come; ``then`` is sent after ``audio-stop`` (``synthesize-stopped``)."""
        self._ended, self._then = True, then
        self._changed.set()

    def cancel(self) -> None:
        """The client is gone: stop every request of this reply."""
        for stream in self._streams:
            stream.cancel()
        self._texts.clear()

    async def play(self) -> None:
        """Send the audio of every request, in order, until :meth:`end`; then ``audio-stop``."""
        try:
            while (stream := await self._next()) is not None:
                async for chunk in _chunks(stream):
                    await self._audio(chunk)
                self._streams.popleft()
                self._line_up()
        finally:
            self.cancel()
        if not self.started:
            await self._start()
        await self._send(AudioStop().event())
        if self._then is not None:
            await self._send(self._then)

    async def _next(self) -> Stream | None:
        while not self._streams:
            if self._ended and not self._texts:
                return None
            self._changed.clear()
            await self._changed.wait()
        return self._streams[0]

    def _line_up(self) -> None:
        """Move requests into the lane while fewer than AHEAD of ours are there; Busy only when none is."""
        while self._texts and len(self._streams) < AHEAD:
            try:
                self._streams.append(self._seam.stream(self._texts[0]))
            except Busy:
                if not self._streams:
                    raise
                return  # ours is in line already: this one follows when it is done
            self._texts.popleft()
            self._changed.set()

    async def _start(self) -> None:
        self.started = True
        await self._send(AudioStart(rate=RATE, width=WIDTH, channels=CHANNELS).event())

    async def _audio(self, chunk: np.ndarray) -> None:
        if not self.started:
            await self._start()
        await self._send(AudioChunk(rate=RATE, width=WIDTH, channels=CHANNELS, audio=pcm16(chunk)).event())


async def _chunks(stream: Stream) -> AsyncIterator[np.ndarray]:
    """The stream's chunks as they are made (a thread waits on it); raises what the request failed with."""
    loop, arrived = asyncio.get_running_loop(), asyncio.Queue[Any]()

    def put(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(arrived.put_nowait, item)
        except RuntimeError:  # the loop has closed: the daemon is stopping
            stream.cancel()

    def pump() -> None:
        try:
            for chunk in stream:
                put(chunk)
        except VoiceDaemonError as exc:
            put(exc)
        else:
            put(_END)

    threading.Thread(target=pump, name=f"wyoming-{stream.request.id[:8]}", daemon=True).start()
    try:
        while (item := await arrived.get()) is not _END:
            if isinstance(item, VoiceDaemonError):
                raise item
            yield item
    finally:
        stream.cancel()  # a no-op once it has ended
