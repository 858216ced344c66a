"""A stand-in for the synthesis worker behind :class:`tests.support.fakeseam.FakeSeam`: each stream
is served on a thread of its own, a piece (sentence) at a time, the next piece only while the
stream is ``ready()`` (the lookahead rule), ending 'done' (with the source's notes) or 'failed'
with the stream's ``cancel_error()`` once it is cancelled.  It records how much it made.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence

import numpy as np

from tests.support.fakeseam import FakeSeam
from voice_daemon.core.events import Event
from voice_daemon.core.lane import Stream
from voice_daemon.errors import VoiceDaemonError

RATE = Stream.sample_rate


def tone(seconds: float) -> np.ndarray:
    return (0.1 * np.sin(np.arange(round(seconds * RATE)) * 2 * np.pi * 440 / RATE)).astype(np.float32)


class SlowWorker:
    """Serve ``fake``'s streams: per sentence of the text ``chunks`` chunks of ``chunk_seconds``, each
    after ``delay`` seconds (a long text is many pieces); ``lookahead`` seconds (the setting)."""

    def __init__(
        self,
        fake: FakeSeam,
        *,
        chunks: int = 2,
        chunk_seconds: float = 0.25,
        delay: float = 0.0,
        lookahead: float = 1.0,
        delays: Sequence[float] = (),
    ) -> None:
        self.fake, self.chunks, self.chunk_seconds, self.delay = fake, chunks, chunk_seconds, delay
        self.lookahead, self.delays = lookahead, list(delays)  # delays: before each piece, in turn
        self.made: dict[str, int] = {}  # request id -> pieces made
        self.threads: list[threading.Thread] = []
        fake.serve = self

    def __call__(self, stream: Stream) -> None:
        stream.lookahead = round(self.lookahead * RATE)
        thread = threading.Thread(target=self._serve, args=(stream,), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _serve(self, stream: Stream) -> None:
        request = stream.request
        self.fake.publish(Event.of("started", request))
        self.made[request.id], samples = 0, 0
        for _ in range(max(1, len(re.findall(r"[.!?]", request.text)))):
            while not stream.ready():
                time.sleep(0.01)
            if self.delays:
                time.sleep(self.delays.pop(0))
            for _ in range(self.chunks):
                time.sleep(self.delay)
                if stream.cancelled.is_set():
                    return self._fail(stream, stream.cancel_error())
                chunk = tone(self.chunk_seconds)
                stream.feed(chunk)
                samples += len(chunk)
            self.made[request.id] += 1
        facts = {"audio_seconds": round(samples / RATE, 3), **stream.notes}
        self.fake.publish(Event.of("done", request, facts))
        stream.finish(facts)
        return None

    def _fail(self, stream: Stream, error: VoiceDaemonError) -> None:
        self.fake.publish(Event.of("failed", stream.request, {"error": str(error), "code": error.code}))
        stream.fail(error)
