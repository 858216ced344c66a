"""The daemon: wiring, start-up order, signals, health and an orderly shutdown.

Start-up: configuration, model (preloaded and warmed), spool recovery, voices and their latents,
then the worker, the seam and the sources; only then READY=1.  Shutdown (SIGTERM/SIGINT):
sources stop taking requests, the worker puts any request in progress back, the player closes;
exit 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from voice_daemon.core.events import EventBus
from voice_daemon.core.lane import Lane
from voice_daemon.core.rendering import Renderer
from voice_daemon.core.request import Limits
from voice_daemon.core.seam import Seam
from voice_daemon.core.spool import Spool
from voice_daemon.core.state import DefaultVoice
from voice_daemon.core.worker import Worker, WorkerConfig
from voice_daemon.files import remove_stale_temporaries
from voice_daemon.quality.guard import QualityGuard
from voice_daemon.settings import Settings
from voice_daemon.sinks.player import Player
from voice_daemon.sources.dropfolder import DropFolder
from voice_daemon.synthesis.audiocache import AudioCache
from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.loader import load_engine
from voice_daemon.systemd import Notifier, watchdog_interval
from voice_daemon.voices.latents import LatentsCache
from voice_daemon.voices.registry import VoiceRegistry, voice_name_of
from voice_daemon.watching import SettledFiles

if TYPE_CHECKING:
    from voice_daemon.sources.http.server import HttpSource
    from voice_daemon.sources.wyoming.server import WyomingSource

log = logging.getLogger(__name__)

_TICK_SECONDS = 1.0
_HOUSEKEEPING_SECONDS = 3600
_STUCK_SECONDS = 300  # no synthesis progress for this long while busy means unhealthy
_SHARED_WRITE_GRACE = 600  # a temporary file this old in a shared cache is nobody's write in progress


class Component(Protocol):
    """A part with a life: sources and watchers."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Running:
    """What a started daemon is made of."""

    spool: Spool
    registry: VoiceRegistry
    player: Player
    worker: Worker
    seam: Seam
    components: list[Component] = field(default_factory=list)  # started in order, stopped in reverse


class Daemon:
    """voice-daemon's long-running service."""

    def __init__(self, settings: Settings, notifier: Notifier | None = None) -> None:
        self.settings = settings
        self.notifier = notifier or Notifier()
        self.stop_requested = threading.Event()
        self.running: Running | None = None
        self.http: HttpSource | None = None  # opened early, so it can say "starting"
        self.wyoming: WyomingSource | None = None  # likewise

    def run(self) -> int:
        """Start, serve until SIGTERM or SIGINT, stop; returns the exit code."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop_requested.set())
        with self._starting():
            running = self.start()
        self.notifier.ready(self._status(running))
        log.info("ready: %s", self._status(running))
        try:
            self._serve(running)
        finally:
            self.stop()
        return 0

    def start(self) -> Running:
        """Bring everything up in dependency order (the model first, the sources last)."""
        settings, paths = self.settings, self.settings.paths
        for folder in (paths.output, paths.cache, paths.spool):
            folder.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporaries()
        self._open_early()  # HTTP answers 503, Wyoming an error event, while the model loads
        engine = load_engine(settings.model.path, paths.cache, **settings.model.options())
        spool = Spool(paths.spool, settings.queue.max_size, settings.queue.keep_finished_hours * 3600)
        log.info("%d request(s) waiting in the queue", spool.recover())
        registry = VoiceRegistry(paths.voices, LatentsCache(paths.latents_cache), engine)
        _load_voices(registry)
        default_voice = DefaultVoice(settings.synthesis.voice, paths.cache / "default_voice", registry)
        default_voice.restore()
        default_voice.resolve()  # says now if the default voice is missing
        events, lane = EventBus(), Lane(settings.queue.interactive_max_size, spool.wake)
        player = Player(settings.output.device, gapless=settings.output.gapless)
        config = WorkerConfig(paths.output, settings.output.fallback_to_file)
        worker = Worker(spool, lane, self._renderer(engine, registry), registry, player, events, config)
        seam = Seam(
            spool,
            lane,
            worker,
            registry,
            events,
            default_voice,
            language=settings.synthesis.language,
            output=settings.output.mode,
            limits=Limits.configured(settings),
        )
        seam.lookahead_seconds = settings.queue.lookahead_seconds
        self.running = running = Running(spool, registry, player, worker, seam)
        worker.start()
        for component in self._sources(running):
            component.start()
            running.components.append(component)
        return running

    def stop(self) -> None:
        """Stop taking requests, put the current one back, close devices."""
        log.info("stopping")
        self.notifier.stopping()
        if (running := self.running) is not None:
            for component in reversed(running.components):
                component.stop()
            running.worker.stop()
            running.player.close()
        else:  # start-up failed after the HTTP API or the Wyoming server opened
            for early in (self.wyoming, self.http):
                if early is not None:
                    early.stop()
        self.notifier.close()
        log.info("stopped")

    def healthy(self, running: Running) -> bool:
        worker = running.worker
        busy_too_long = worker.current is not None and time.monotonic() - worker.heartbeat > _STUCK_SECONDS
        return worker.is_alive() and not busy_too_long

    def _renderer(self, engine: Engine, registry: VoiceRegistry) -> Renderer:
        """The audio cache -> quality guard -> engine chain, built once."""
        settings = self.settings
        cache = None
        if settings.cache.audio_enabled:
            cache = AudioCache(settings.paths.audio_cache, int(settings.cache.audio_max_mb * 2**20))
        return Renderer(
            engine, registry, settings.sampling, self._quality_guard(), cache, settings.synthesis.normalize
        )

    def _quality_guard(self) -> QualityGuard | None:
        if not self.settings.quality.enabled:
            return None
        guard = QualityGuard(self.settings.quality)
        guard.warm_up()
        log.info(
            "quality guard on: takes scoring below %.2f are made again, up to %d time(s)",
            self.settings.quality.min_score,
            self.settings.quality.max_retries,
        )
        return guard

    def _open_early(self) -> None:
        if self.settings.http.enabled:
            from voice_daemon.sources.http.server import HttpSource

            self.http = HttpSource(self.settings.http)
            self.http.open()
        if self.settings.wyoming.enabled:
            from voice_daemon.sources.wyoming.server import WyomingSource

            self.wyoming = WyomingSource(self.settings.wyoming)
            self.wyoming.open()

    def _sources(self, running: Running) -> list[Component]:
        """The voices watcher, then every enabled request source."""
        settings, voices = self.settings, self.settings.paths.voices

        def changed(path: Path) -> None:
            if (name := voice_name_of(voices, path)) is not None:
                running.registry.refresh(name)

        components: list[Component] = [
            SettledFiles(
                voices,
                changed,
                changed,
                recursive=True,
                accept=lambda p: voice_name_of(voices, p) is not None,
                settle=settings.inbox.settle_seconds,
                rescan=settings.inbox.rescan_seconds,
            )
        ]
        if settings.inbox.enabled:
            components.append(
                DropFolder(
                    settings.paths.inbox,
                    running.seam,
                    settle=settings.inbox.settle_seconds,
                    rescan=settings.inbox.rescan_seconds,
                )
            )
        if settings.mqtt.enabled:
            from voice_daemon.sources.mqtt.bridge import MqttBridge

            components.append(MqttBridge(settings.mqtt, running.seam))
        if self.http is not None:
            components.append(self.http.attach(running.seam))
        if self.wyoming is not None:
            components.append(self.wyoming.attach(running.seam))
        return components

    def _serve(self, running: Running) -> None:
        interval = watchdog_interval()
        tick = min(_TICK_SECONDS, interval or _TICK_SECONDS)
        last_ping = last_housekeeping = time.monotonic()
        while not self.stop_requested.wait(tick):
            now = time.monotonic()
            if interval is not None and now - last_ping >= interval and self.healthy(running):
                self.notifier.watchdog()
                last_ping = now
            self.notifier.status(self._status(running))
            if now - last_housekeeping >= _HOUSEKEEPING_SECONDS:
                self._housekeeping(running)
                last_housekeeping = now

    def _remove_stale_temporaries(self) -> None:
        """Temporary files of writes that a crash or power cut interrupted."""
        paths = self.settings.paths
        removed = remove_stale_temporaries(paths.output)
        for cache in (paths.latents_cache, paths.audio_cache):
            removed += remove_stale_temporaries(cache, min_age=_SHARED_WRITE_GRACE)
        if removed:
            log.info("removed %d temporary file(s) left by interrupted writes", removed)

    def _housekeeping(self, running: Running) -> None:
        self._remove_stale_temporaries()
        running.spool.prune()
        for component in running.components:
            if isinstance(component, DropFolder):
                component.prune(self.settings.queue.keep_finished_hours * 3600)

    def _status(self, running: Running) -> str:
        state = running.seam.state()
        doing = f"speaking {state.current}" if state.current is not None else "idle"
        status = f"{doing}; {state.waiting} queued; {len(state.usable_voices())} voice(s)"
        return status + (f"; {state.default_voice_note}" if state.default_voice_note else "")

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


def _load_voices(registry: VoiceRegistry) -> None:
    """Validate every voice and load (or compute) its latents before the worker owns the model."""
    registry.scan()
    while (name := registry.prepare_next()) is not None:
        log.debug("latents of voice %s ready", name)
    names = registry.names()
    log.info("%d voice(s): %s", len(names), ", ".join(names) or "none")
