"""Daemon state kept by the core: the default voice, whichever source changed it.

The chosen default voice (``synthesis.voice``, or what a source set since) is kept across
restarts in ``paths.cache/default_voice``.  While it is not a usable voice, requests that name
no voice use the first usable voice by name, with a warning logged once; a request that names
a missing voice still fails.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from voice_daemon.files import replacing, storage_error
from voice_daemon.voices.registry import VoiceRegistry

log = logging.getLogger(__name__)


def substitute_voice(chosen: str, usable: list[str]) -> str | None:
    """The voice used instead of ``chosen`` when it is not among the ``usable`` ones (None: no need,
    or none)."""
    return None if chosen in usable or not usable else sorted(usable)[0]


def default_voice_note(chosen: str, usable: list[str]) -> str | None:
    """Why requests naming no voice do not get ``chosen``, in words; None when they do."""
    if chosen in usable:
        return None
    substitute = substitute_voice(chosen, usable)
    if substitute is None:
        return f"the default voice {chosen!r} is missing and there is no usable voice"
    return f"the default voice {chosen!r} is missing; requests naming no voice use {substitute!r}"


class DefaultVoice:
    """The default voice: chosen, persisted, and resolved against the registry."""

    def __init__(self, configured: str, state_file: Path, registry: VoiceRegistry) -> None:
        self.state_file = state_file
        self.registry = registry
        self.chosen = configured
        self._warned: str | None = None
        self._lock = threading.Lock()

    def restore(self) -> None:
        """Take the choice kept by an earlier run, if that voice is usable."""
        try:
            name = self.state_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return
        if name in self.registry.names():
            self.chosen = name

    def choose(self, name: str) -> None:
        """Make ``name`` the default voice (UnknownVoice if it is not usable) and keep the choice."""
        self.registry.get(name)
        with self._lock:
            self.chosen = name
            try:
                with replacing(self.state_file, durable=True) as handle:
                    handle.write(f"{name}\n".encode())
            except OSError as exc:
                log.warning(
                    "default voice %s is not kept across restarts: %s",
                    name,
                    storage_error(exc, self.state_file.parent, "cache folder"),
                )
        log.info("default voice is now %s", name)

    def resolve(self) -> str:
        """The voice for a request that names none (a warning is logged once while it is a substitute)."""
        usable = self.registry.names()
        with self._lock:
            note = default_voice_note(self.chosen, usable)
            if note is not None and note != self._warned:
                log.warning("%s", note)
            self._warned = note
        return (
            substitute_voice(self.chosen, usable) or self.chosen
        )  # none usable: the request fails naming it

    def note(self) -> str | None:
        """What is wrong with the default voice, for the status line and ``voice-daemon voices``."""
        return default_voice_note(self.chosen, self.registry.names())
