"""The voice registry: names in ``paths.voices`` mapped to validated reference clips and latents.

A voice ``NAME`` is every audio file ``voices/NAME.<wav|flac|ogg|mp3>`` plus every audio file in
the folder ``voices/NAME/``; several clips are combined into one conditioning.  Clips that fail
validation are never used; a voice without a usable clip is rejected, and the reasons are
written to ``voices/NAME.error.txt`` for the user to find.  Names are letters, digits, ``-`` and
``_``; a request can only name a voice, never a path.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voice_daemon.audio import AUDIO_SUFFIXES, Clip
from voice_daemon.errors import ModelUnavailable, ReferenceRejected, UnknownVoice
from voice_daemon.files import write_text_atomic
from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.types import Latents, SamplingParams
from voice_daemon.voices.latents import LatentsCache, latents_key
from voice_daemon.voices.names import VOICE_NAME
from voice_daemon.voices.validation import Verdict, status_of, validate_file

log = logging.getLogger(__name__)

ERROR_SUFFIX = ".error.txt"
SETTINGS_SUFFIX = ".settings.json"
Signature = tuple[tuple[str, int, int], ...]  # (name, size, mtime) of each file


@dataclass
class Voice:
    """One voice and what validation found."""

    name: str
    files: tuple[Path, ...] = ()  # the clips conditioning uses: the tuned subset, else every usable clip
    usable: tuple[Path, ...] = ()  # every clip that passed validation
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    key: str | None = None  # latents cache key, when the registry knows the model
    signature: Signature = ()  # (name, size, mtime) of every file considered: unchanged means no revalidation

    @property
    def sampling(self) -> dict[str, Any]:
        """Tuned generation settings of this voice (override the configured ones)."""
        return dict(self.settings.get("sampling", {}))

    def describe_tuning(self) -> str:
        """The tuned settings in words, for logs; empty when the voice is not tuned."""
        parts = [f"{key}={value}" for key, value in sorted(self.sampling.items())]
        if "clips" in self.settings:
            parts.append(f"clips={','.join(path.name for path in self.files)}")
        return ", ".join(parts)

    @property
    def status(self) -> str:
        return status_of(self.problems, self.warnings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "files": [path.name for path in self.files],
            "problems": self.problems,
            "warnings": self.warnings,
        }


def voice_name_of(voices_dir: Path, path: Path) -> str | None:
    """The voice that ``path`` (a clip or a voice folder) belongs to, or None if it is no voice file."""
    try:
        relative = path.relative_to(voices_dir)
    except ValueError:
        return None
    parts = relative.parts
    if len(parts) == 1 and path.name.endswith(SETTINGS_SUFFIX):
        return path.name.removesuffix(SETTINGS_SUFFIX)
    if len(parts) == 1:
        return parts[0] if path.suffix == "" or path.is_dir() else relative.stem if _is_audio(path) else None
    if len(parts) == 2 and _is_audio(path):
        return parts[0]
    return None


def load_reference(
    paths: Iterable[Path], root: Path | None = None
) -> tuple[list[Path], list[Clip], list[Verdict]]:
    """Validate reference files; return the usable files and clips, and every verdict.

    Raises ReferenceRejected when no file is usable.  With ``root``, a file that resolves outside
    it (a symbolic link out of the voices folder, say) is rejected.
    """
    files, clips, verdicts = [], [], []
    for path in sorted(paths):
        if root is not None and not path.resolve().is_relative_to(root.resolve()):
            verdicts.append(Verdict(path, problems=[f"points outside the voices folder ({path.resolve()})"]))
            continue
        verdict, clip = validate_file(path)
        verdicts.append(verdict)
        if verdict.ok and clip is not None:
            files.append(path)
            clips.append(clip)
    if not files:
        reasons = "; ".join(verdict.summary() for verdict in verdicts) or "no audio files"
        raise ReferenceRejected(f"reference audio rejected: {reasons}")
    return files, clips, verdicts


class VoiceRegistry:
    """Thread-safe map of voice names to :class:`Voice`, with their latents in a cache.

    Validation may run on any thread; :meth:`latents` and :meth:`prepare_next` run the model
    and belong to the model's owner (the synthesis worker).
    """

    def __init__(self, voices_dir: Path, cache: LatentsCache, engine: Engine | None = None) -> None:
        self.voices_dir = voices_dir
        self.cache = cache
        self.engine = engine
        self.listeners: list[Callable[[], None]] = []  # called after any voice appeared, changed or went
        self._voices: dict[str, Voice] = {}
        self._lock = threading.Lock()

    def scan(self) -> None:
        """(Re)validate every voice in the folder and forget voices that are gone."""
        found = (voice_name_of(self.voices_dir, p) for p in self._entries())
        names = {name for name in found if name is not None}
        for gone in set(self._voices) - names:
            self.refresh(gone)
        for name in sorted(names):
            self.refresh(name)

    def refresh(self, name: str) -> Voice | None:
        """Revalidate voice ``name`` from disk; returns it, or None when it no longer exists."""
        files = self._files_of(name)
        if not files:
            with self._lock:
                removed = self._voices.pop(name, None)
            if removed is not None:
                log.info("voice %s removed", name)
                if removed.key:
                    self.cache.forget(removed.key)
                self._notify()
            self._error_file(name).unlink(missing_ok=True)
            return None
        signature = _signature([*files, self.voices_dir / f"{name}{SETTINGS_SUFFIX}"])
        with self._lock:
            previous = self._voices.get(name)
        if previous is not None and previous.signature == signature:
            return previous
        voice = self._validate(name, files)
        voice.signature = signature
        with self._lock:
            self._voices[name] = voice
        if previous is not None and previous.key and previous.key != voice.key:
            self.cache.forget(previous.key)
        self._report(voice)
        self._notify()
        return voice

    def get(self, name: str) -> Voice:
        """The usable voice ``name``; UnknownVoice (with the reason) if it is missing or rejected."""
        with self._lock:
            voice = self._voices.get(name)
        if voice is None:
            known = ", ".join(self.names()) or "none"
            raise UnknownVoice(f"unknown voice {name!r} (available: {known})")
        if voice.problems:
            raise UnknownVoice(f"voice {name!r} is rejected: {'; '.join(voice.problems)}")
        return voice

    def names(self) -> list[str]:
        """Names of the usable voices."""
        with self._lock:
            return sorted(name for name, voice in self._voices.items() if not voice.problems)

    def all(self) -> list[Voice]:
        with self._lock:
            return [self._voices[name] for name in sorted(self._voices)]

    def latents(self, voice: Voice) -> Latents:
        """Latents of ``voice``; computed by the engine only when no cache level has them."""
        engine = self._require_engine()
        key = voice.key or latents_key(voice.files, engine.fingerprint, engine.conditioning_settings)

        def compute() -> Latents:
            log.info("computing latents of voice %s", voice.name)
            _, clips, _ = load_reference(voice.files, self.voices_dir)
            return engine.conditioning(clips)

        return self.cache.get(key, compute)

    def prepare_next(self) -> str | None:
        """Compute (or load) the latents of one usable voice not yet in memory; its name, or None."""
        with self._lock:
            waiting = [v for v in self._voices.values() if not v.problems and not self.cache.in_memory(v.key)]
        if not waiting:
            return None
        self.latents(waiting[0])
        return waiting[0].name

    def _notify(self) -> None:
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:
                log.exception("voice listener %r failed", listener)

    def _require_engine(self) -> Engine:
        if self.engine is None:
            raise ModelUnavailable(
                "this voice registry has no model: it can validate voices but not condition them"
            )
        return self.engine

    def _entries(self) -> list[Path]:
        if not self.voices_dir.is_dir():
            return []
        return [p for p in self.voices_dir.iterdir() if not p.name.startswith(".")]

    def _files_of(self, name: str) -> list[Path]:
        if not VOICE_NAME.match(name) or not self.voices_dir.is_dir():
            return []
        loose = [p for p in self.voices_dir.glob(f"{name}.*") if _is_audio(p) and p.stem == name]
        folder = self.voices_dir / name
        nested = [p for p in folder.iterdir() if _is_audio(p)] if folder.is_dir() else []
        return [p for p in loose + nested if p.is_file()]

    def _validate(self, name: str, files: list[Path]) -> Voice:
        voice = Voice(name, settings=self._settings_of(name))
        try:
            usable, _, verdicts = load_reference(files, self.voices_dir)
            voice.usable = tuple(usable)
            voice.files = _chosen_clips(voice.usable, voice.settings.get("clips"), name)
        except ReferenceRejected as exc:
            voice.problems.append(str(exc))
            return voice
        if self.engine is not None:
            voice.key = latents_key(voice.files, self.engine.fingerprint, self.engine.conditioning_settings)
        for verdict in verdicts:
            if verdict.problems:
                voice.warnings.append(f"clip not used: {verdict.summary()}")
            voice.warnings.extend(f"{verdict.path.name}: {warning}" for warning in verdict.warnings)
        return voice

    def _settings_of(self, name: str) -> dict[str, Any]:
        path = self.voices_dir / f"{name}{SETTINGS_SUFFIX}"
        try:
            settings = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            SamplingParams(**settings.get("sampling", {}))  # a bad value must not reach the model
            return settings
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring unusable voice settings %s: %s", path, exc)
            return {}

    def _report(self, voice: Voice) -> None:
        error_file = self._error_file(voice.name)
        if voice.problems:
            log.warning("voice %s rejected: %s", voice.name, "; ".join(voice.problems))
            try:
                write_text_atomic(error_file, "\n".join(voice.problems) + "\n")
            except OSError as exc:
                log.warning("cannot write %s: %s", error_file, exc)
            return
        error_file.unlink(missing_ok=True)
        tuning = voice.describe_tuning()
        log.info(
            "voice %s ready (%d clip(s))%s%s",
            voice.name,
            len(voice.files),
            f"; tuned settings: {tuning}" if tuning else "",
            f"; {'; '.join(voice.warnings)}" if voice.warnings else "",
        )

    def _error_file(self, name: str) -> Path:
        return self.voices_dir / f"{name}{ERROR_SUFFIX}"


def _chosen_clips(usable: tuple[Path, ...], names: object, voice: str) -> tuple[Path, ...]:
    """The tuned subset ``names`` of the usable clips; all of them when unset or none is usable."""
    if not isinstance(names, list):
        return usable
    chosen = tuple(path for path in usable if path.name in names)
    if not chosen:
        log.warning("voice %s: none of the tuned clips %s is usable; using every clip", voice, names)
    return chosen or usable


def _signature(paths: list[Path]) -> Signature:
    entries: list[tuple[str, int, int]] = []
    for path in sorted(paths):
        try:
            stat = path.stat()
        except OSError:
            continue
        entries.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith(".")
