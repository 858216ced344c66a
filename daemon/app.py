"""The daemon: wiring, start-up order, signals, health and an orderly shutdown.

Start-up: configuration, model (preloaded and warmed), spool recovery, voices and their latents,
then the worker and the sources; only then READY=1.  Shutdown (SIGTERM/SIGINT): sources stop
taking requests, the worker puts any request in progress back, the player closes; exit 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .audiocache import AudioCache
from .engine import Engine
from .events import EventBus
from .files import remove_stale_temporaries
from .guard import QualityGuard
from .inbox import Inbox
from .intake import Intake
from .latents import LatentsCache
from .modelfiles import ensure_model, go_offline
from .notify import Notifier, watchdog_interval
from .request import Limits
from .settings import Settings
from .sinks import Player
from .spool import Spool
from .voices import VoiceRegistry, voice_name_of
from .watching import SettledFiles
from .worker import Worker, WorkerConfig

log = logging.getLogger(__name__)

_TICK_SECONDS = 1.0
_HOUSEKEEPING_SECONDS = 3600
_STUCK_SECONDS = 300  # no synthesis progress for this long while busy means unhealthy
_SHARED_WRITE_GRACE = 600  # a temporary file this old in a shared cache is nobody's write in progress


class Daemon:
    """voice-daemon's long-running service."""

    def __init__(self, settings: Settings, notifier: Notifier | None = None) -> None:
        self.settings = settings
        self.notifier = notifier or Notifier()
        self.events = EventBus()
        self.stop_requested = threading.Event()
        self._stoppables: list = []

    def run(self) -> int:
        """Start, serve until SIGTERM or SIGINT, stop; returns the exit code."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop_requested.set())
        with self._starting():
            self.start()
        self.notifier.ready(self._status())
        log.info("ready: %s", self._status())
        try:
            self._serve()
        finally:
            self.stop()
        return 0

    def start(self) -> None:
        """Bring everything up in dependency order (the model first, the sources last)."""
        settings, paths = self.settings, self.settings.paths
        for folder in (paths.output, paths.cache, paths.spool):
            folder.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporaries()
        ensure_model(settings.model.path, paths.cache, settings.model.accept_license)
        go_offline()
        model = settings.model
        self.engine = Engine.load(model.path, model.device, model.threads, model.quantize_int8)
        if model.warmup:
            log.info("warm-up took %.2f s", self.engine.warm_up())
        self.spool = Spool(paths.spool, settings.queue.max_size, settings.queue.keep_finished_hours * 3600)
        log.info("%d request(s) waiting in the queue", self.spool.recover())
        self.registry = VoiceRegistry(paths.voices, LatentsCache(paths.latents_cache), self.engine)
        self._load_voices()
        self.player = Player(settings.output.device)
        cache = settings.cache
        audio_cache = None
        if cache.audio_enabled:
            audio_cache = AudioCache(paths.audio_cache, int(cache.audio_max_mb * 2**20))
        self.worker = Worker(self.spool, self.engine, self.registry, self.player, self.events,
                             WorkerConfig(paths.output, settings.sampling, settings.output.fallback_to_file,
                                          self._quality_guard(), audio_cache))  # fmt: skip
        self.intake = Intake(
            self.spool, self.registry, self.events, voice=settings.synthesis.voice,
            language=settings.synthesis.language, output=settings.output.mode,
            limits=Limits(max_text_length=settings.synthesis.max_text_length),
        )  # fmt: skip
        self.worker.start()
        self._start_sources()

    def stop(self) -> None:
        """Stop taking requests, put the current one back, close devices."""
        log.info("stopping")
        self.notifier.stopping()
        for component in reversed(self._stoppables):
            component.stop()
        if hasattr(self, "worker"):
            self.worker.stop()
            self.player.close()
        self.notifier.close()
        log.info("stopped")

    def healthy(self) -> bool:
        worker = self.worker
        busy_too_long = worker.current is not None and time.monotonic() - worker.heartbeat > _STUCK_SECONDS
        return worker.is_alive() and not busy_too_long

    def _quality_guard(self) -> QualityGuard | None:
        if not self.settings.quality.enabled:
            return None
        guard = QualityGuard(self.settings.quality)
        guard.warm_up()
        log.info("quality guard on: takes scoring below %.2f are made again, up to %d time(s)",
                 self.settings.quality.min_score, self.settings.quality.max_retries)  # fmt: skip
        return guard

    def _load_voices(self) -> None:
        """Validate every voice and load (or compute) its latents before the worker owns the model."""
        self.registry.scan()
        while (name := self.registry.prepare_next()) is not None:
            log.debug("latents of voice %s ready", name)
        names = self.registry.names()
        log.info("%d voice(s): %s", len(names), ", ".join(names) or "none")
        if self.settings.synthesis.voice not in names:
            log.warning("the default voice %r is not available", self.settings.synthesis.voice)

    def _start_sources(self) -> None:
        settings = self.settings
        voices = SettledFiles(
            settings.paths.voices, self._voice_changed, self._voice_changed, recursive=True,
            accept=lambda p: voice_name_of(settings.paths.voices, p) is not None,
            settle=settings.inbox.settle_seconds, rescan=settings.inbox.rescan_seconds,
        )  # fmt: skip
        self._start(voices)
        if settings.inbox.enabled:
            self._start(Inbox(settings.paths.inbox, self.intake, self.spool,
                              settle=settings.inbox.settle_seconds, rescan=settings.inbox.rescan_seconds))  # fmt: skip
        if settings.mqtt.enabled:
            from .mqtt import MqttBridge

            self._start(MqttBridge(settings.mqtt, self.intake, self.worker, self.registry, settings.paths.cache))

    def _start(self, component) -> None:  # noqa: ANN001 - anything with start() and stop()
        component.start()
        self._stoppables.append(component)

    def _voice_changed(self, path: Path) -> None:
        name = voice_name_of(self.settings.paths.voices, path)
        if name is not None:
            self.registry.refresh(name)

    def _serve(self) -> None:
        interval = watchdog_interval()
        tick = min(_TICK_SECONDS, interval or _TICK_SECONDS)
        last_ping = last_housekeeping = time.monotonic()
        while not self.stop_requested.wait(tick):
            now = time.monotonic()
            if interval is not None and now - last_ping >= interval and self.healthy():
                self.notifier.watchdog()
                last_ping = now
            self.notifier.status(self._status())
            if now - last_housekeeping >= _HOUSEKEEPING_SECONDS:
                self._housekeeping()
                last_housekeeping = now

    def _remove_stale_temporaries(self) -> None:
        """Temporary files of writes that a crash or power cut interrupted."""
        paths = self.settings.paths
        removed = remove_stale_temporaries(paths.output)
        for cache in (paths.latents_cache, paths.audio_cache):
            removed += remove_stale_temporaries(cache, min_age=_SHARED_WRITE_GRACE)
        if removed:
            log.info("removed %d temporary file(s) left by interrupted writes", removed)

    def _housekeeping(self) -> None:
        self._remove_stale_temporaries()
        self.spool.prune()
        for component in self._stoppables:
            if isinstance(component, Inbox):
                component.prune(self.settings.queue.keep_finished_hours * 3600)

    def _status(self) -> str:
        current = self.worker.current
        doing = f"speaking {current.id}" if current is not None else "idle"
        return f"{doing}; {self.spool.pending()} queued; {len(self.registry.names())} voice(s)"

    @contextmanager
    def _starting(self) -> Iterator[None]:
        """Keep systemd's start timeout at bay while the model downloads or loads."""
        done = threading.Event()

        def extend() -> None:
            while not done.wait(10):
                self.notifier.extend_start(30)

        keeper = threading.Thread(target=extend, name="start-keeper", daemon=True)
        self.notifier.status("starting: loading the model")
        keeper.start()
        try:
            yield
        finally:
            done.set()
