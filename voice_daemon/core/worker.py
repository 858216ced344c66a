"""The one synthesis worker: the only thread that runs the model, and the one that decides what runs when.

It walks every request text piece by text piece (``core.rendering``) and decides between two
pieces what comes next: interactive streams first, in turns of one piece each (round robin, so a
short request behind a long one waits at most one piece of it), skipping a stream whose caller
is not ready for more and dropping one that was cancelled; an announcement (a durable request
claimed from the spool, urgent first) makes its next piece only when no stream may have a turn.
Audio goes to its sinks while synthesis goes on (played, saved, streamed back); the outcome of a
durable request is recorded in the spool, and every step is published as an event.  When idle
it prepares the latents of voices that are new or changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voice_daemon.core.events import Event, EventBus
from voice_daemon.core.lane import Lane, Stream
from voice_daemon.core.rendering import Render, Renderer
from voice_daemon.core.request import SpeechRequest
from voice_daemon.core.spool import Claim, Outcome, Spool
from voice_daemon.errors import Stopping, VoiceDaemonError
from voice_daemon.sinks.files import output_path
from voice_daemon.sinks.outputs import Delivery, Utterance
from voice_daemon.sinks.player import Plan, Player
from voice_daemon.synthesis.types import SAMPLE_RATE
from voice_daemon.voices.registry import VoiceRegistry

log = logging.getLogger(__name__)

_IDLE_POLL_SECONDS = 0.5
_PARKED_POLL_SECONDS = 0.1  # how often a parked stream is looked at again
_STOPPING = "the daemon is stopping"

Steps = Generator[None, None, dict[str, Any]]  # one text piece per step; returns the 'done' event's data


@dataclass
class WorkerConfig:
    """What the worker needs from the configuration."""

    output_dir: Path
    fallback_to_file: bool = True


class Worker:
    """Owns the model (through ``renderer``); serves requests piece by piece on its own thread."""

    def __init__(
        self,
        spool: Spool,
        lane: Lane,
        renderer: Renderer,
        registry: VoiceRegistry,
        player: Player,
        events: EventBus,
        config: WorkerConfig,
    ) -> None:
        self.spool, self.lane, self.renderer, self.registry = spool, lane, renderer, registry
        self.player, self.events, self.config = player, events, config
        self.heartbeat = time.monotonic()
        self.current: SpeechRequest | None = None  # being synthesised
        self.announcing: SpeechRequest | None = None  # the durable request in progress
        self._announcement: tuple[Claim, Steps] | None = None
        self._streams: dict[Stream, Steps] = {}  # streams that have had a turn
        self._streaming: Stream | None = None  # having its turn now
        self._nested = False  # other work runs inside a quality-guarded take
        self._stopping = threading.Event()
        self._cancel = threading.Event()  # of the durable request in progress
        self._thread = threading.Thread(target=self._run, name="synthesis", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Stop: any durable request in progress goes back into the queue, every stream in the lane
        (waiting, parked or having its turn) ends with a 'failed' event (``stopping``)."""
        self._stopping.set()
        self._cancel.set()
        if (stream := self._streaming) is not None:
            stream.cancel(Stopping(_STOPPING))
        self.player.stop_current()
        self.spool.wake()
        self._thread.join(timeout)
        self._stop_streams()

    def stop_current(self) -> bool:
        """Cut the current announcement short (synthesis and playback); True if there was one."""
        if self.announcing is None:
            return False
        self._cancel.set()
        self.player.stop_current()
        return True

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self.heartbeat = time.monotonic()
                if not (self._stream_turn() or self._announcement_turn()):
                    self._idle()
            while self._announcement_turn():  # cancelled: it ends at its next chunk
                pass
        finally:
            self._stop_streams()

    def _idle(self) -> None:
        """Wait for work: a durable request to claim, or a stream that may have a turn."""
        poll = _PARKED_POLL_SECONDS if self.lane.streams() else _IDLE_POLL_SECONDS
        claim = self.spool.claim(poll, lambda: self._stream_may_turn() or self._stopping.is_set())
        if claim is not None:
            self._begin(claim)
        elif not self.lane.streams():
            self._prepare_voice()

    def _prepare_voice(self) -> None:
        try:
            self.registry.prepare_next()
        except VoiceDaemonError as exc:
            log.warning("could not prepare a voice: %s", exc)

    # -- durable requests ---------------------------------------------------------------------

    def _begin(self, claim: Claim) -> None:
        request = claim.request
        self.announcing = request
        self._cancel.clear()
        data: dict[str, Any] = {"queue_seconds": round(time.time() - request.created, 3)}
        if request.output in ("play", "both") and (delay := self._planned_delay(request)) is not None:
            data["start_delay_seconds"] = delay
        self._publish("started", request, data)
        self._announcement = claim, self._speak(request)

    def _planned_delay(self, request: SpeechRequest) -> float | None:
        """The start delay recent announcements predict for ``request``, from the same spoken pieces
        the player will pace; None for a voice that cannot speak (its 'failed' event follows)."""
        try:
            script = self.renderer.script(request)
        except VoiceDaemonError:
            return None
        return self.player.planned_delay(_plan(script.pieces, script.language, script.voice.name))

    def _announcement_turn(self) -> bool:
        """Make the next piece of the announcement in progress; False if there is none."""
        if self._announcement is None:
            return False
        claim, steps = self._announcement
        request = self.current = claim.request
        try:
            next(steps)
            return True
        except StopIteration as end:
            outcome = Outcome("done", end.value, request)
        except VoiceDaemonError as exc:
            outcome = Outcome("failed", {"error": str(exc)}, request)
        except Exception as exc:  # a bug must fail one request, not the daemon
            log.exception("request %s crashed", request.id)
            outcome = Outcome("failed", {"error": f"internal error: {type(exc).__name__}: {exc}"}, request)
        finally:
            self.current = self.announcing
        self._announcement = self.announcing = self.current = None
        if self._stopping.is_set() and self._cancel.is_set():
            log.info("shutting down: request %s goes back into the queue", request.id)
            self.spool.release(claim)
        else:
            self.spool.finish(claim, outcome)
            self._publish(outcome.state, request, outcome.data)
        return True

    def _speak(self, request: SpeechRequest) -> Steps:
        """Synthesise ``request`` into its outputs, a piece per step; returns the 'done' event data."""
        started = time.monotonic()
        render = self._render(request, self._cancel, None)
        target = output_path(self.config.output_dir, request.file_stem)
        plays = request.output in ("play", "both")
        utterance = Utterance(
            player=self.player if plays else None,
            plan=_plan(render.pieces, render.language, render.voice, render.live),
            volume=request.volume,
            save_to=target if request.output in ("file", "both") else None,
            fallback=target if self.config.fallback_to_file else None,
            keep=lambda: not self._cancel.is_set(),
        )
        try:
            for chunk in render.rendering.chunks:
                if len(chunk):
                    utterance.feed(chunk)
                else:  # a piece ended: a stream may have its turn now
                    utterance.end_piece()
                    yield
        finally:
            utterance.close()
        made = _since(started)
        delivery = utterance.result()
        return {
            **render.rendering.facts,
            **_delivery_data(delivery, started),
            **({"made_seconds": made} if plays else {}),
            "synthesis_seconds": _since(started),
        }

    # -- interactive streams ------------------------------------------------------------------

    def _stream_may_turn(self) -> bool:
        return any(stream.cancelled.is_set() or stream.ready() for stream in self.lane.streams())

    def _stream_turn(self, skip: Stream | None = None) -> bool:
        """Give the next stream in line that is ready its turn (one piece); False if none may have one.

        Cancelled streams met on the way are ended; streams that are not ready stay parked in line.
        """
        for stream in self.lane.streams():
            if stream is skip:
                continue
            if stream.cancelled.is_set():
                self._end_stream(stream, stream.cancel_error())
            elif stream.ready():
                self._turn(stream)
                return True
        return False

    def _turn(self, stream: Stream) -> None:
        request = stream.request
        if (steps := self._streams.get(stream)) is None:
            self._publish("started", request, {"queue_seconds": round(time.time() - request.created, 3)})
            steps = self._streams[stream] = self._stream_steps(stream)
        self.lane.begin_turn(stream)
        self._streaming, self.current = stream, request
        try:
            next(steps)
        except StopIteration as end:
            if self.lane.remove(stream):  # the event first: a caller that has seen the end can rely on it
                self._streams.pop(stream, None)
                facts = {**end.value, **stream.notes}  # with what its source adds (keep-alive silence)
                self._publish("done", request, facts)
                stream.finish(facts)
        except VoiceDaemonError as exc:
            self._end_stream(stream, exc)
        except Exception as exc:
            log.exception("request %s crashed", request.id)
            self._end_stream(stream, VoiceDaemonError(f"internal error: {type(exc).__name__}: {exc}"))
        finally:
            self.lane.end_turn(stream)
            self._streaming, self.current = None, self.announcing

    def _between_pieces(self, own: Stream | None) -> None:
        """Between two pieces of a quality-guarded take (made whole): the turns other streams would
        have had there.  An announcement yields to every stream; a stream lets each other one have
        a turn.  Inside those turns, guarded takes are made without yielding (no deeper nesting)."""
        if self._nested:
            return
        self._nested, outer = True, (self._streaming, self.current)
        try:
            if own is None:
                while not self._stopping.is_set() and self._stream_turn():
                    pass
            else:
                for _ in range(len(self.lane.streams()) - 1):  # one round of the others
                    if self._stopping.is_set() or not self._stream_turn(skip=own):
                        break
        finally:
            self._nested = False
            self._streaming, self.current = outer

    def _end_stream(self, stream: Stream, error: VoiceDaemonError) -> bool:
        """End ``stream`` with one 'failed' event; False if it had ended already."""
        if not self.lane.remove(stream):
            return False
        if (steps := self._streams.pop(stream, None)) is not None:
            steps.close()
        self._publish("failed", stream.request, {"error": str(error)})
        stream.fail(error)
        return True

    def _stop_streams(self) -> None:
        stopped = sum(self._end_stream(stream, Stopping(_STOPPING)) for stream in self.lane.streams())
        if stopped:
            log.info("stopping: the daemon stopped %d interactive request(s) still in the lane", stopped)

    def _stream_steps(self, stream: Stream) -> Steps:
        started = time.monotonic()
        render = self._render(stream.request, stream.cancelled, stream)
        first, samples = None, 0
        for chunk in render.rendering.chunks:
            if not len(chunk):  # a piece ended: the next stream's turn
                yield
                continue
            if first is None:
                first = _since(started)
            samples += len(chunk)
            stream.feed(chunk)
        if stream.cancelled.is_set():
            raise stream.cancel_error()
        return {
            **render.rendering.facts,
            "audio_seconds": round(samples / SAMPLE_RATE, 3),
            "first_audio_seconds": first,
            "synthesis_seconds": _since(started),
        }

    # -- shared -------------------------------------------------------------------------------

    def _render(self, request: SpeechRequest, cancel: threading.Event, stream: Stream | None) -> Render:
        """The audio of ``request`` (of ``stream``, or the announcement in progress) as 24 kHz chunks,
        an empty chunk between two text pieces."""
        return self.renderer.render(request, cancel, self._beat, lambda: self._between_pieces(stream))

    def _beat(self) -> None:
        """Synthesis is making progress (for the watchdog)."""
        self.heartbeat = time.monotonic()

    def _publish(self, state: str, request: SpeechRequest, data: dict[str, Any]) -> None:
        self.events.publish(Event.of(state, request, data))  # type: ignore[arg-type]


def _plan(pieces: list[str], language: str, voice: str, live: bool = True) -> Plan:
    """What the player paces by: the lengths of the spoken pieces (one rule for the plan and the delay)."""
    return Plan(tuple(len(piece) for piece in pieces), language, voice, live)


def _delivery_data(delivery: Delivery, started: float) -> dict[str, Any]:
    data: dict[str, Any] = {"audio_seconds": round(delivery.seconds, 3)}
    if delivery.first_audio_at is not None:
        data["first_audio_seconds"] = round(delivery.first_audio_at - started, 3)
    if delivery.start_delay is not None:
        data["start_delay_seconds"] = round(delivery.start_delay, 3)
        data["pause_seconds"] = round(delivery.paused, 3)
    if delivery.stopped:
        data["stopped"] = True
    if delivery.playback_error is not None:
        data["playback_error"] = f"{delivery.playback_error}; saved to a file instead"
    if delivery.file is not None:
        data["file"] = delivery.file.name
    return data


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
