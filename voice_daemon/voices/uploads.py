"""Adding and removing a voice on request (the HTTP API), with the watched folder's own checks.

An added voice is staged in a hidden folder inside ``paths.voices`` (same file system), every
clip is validated there exactly as a clip in the folder would be, and only when every clip is
usable is it renamed into place (``NAME.<ext>`` for one clip, ``NAME/`` for several): the
watcher and the registry never see half a voice, and a rejected upload leaves nothing behind.
The name is checked against the one voice-name rule; file names come from the index and the
detected format, never from the request.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf

from voice_daemon.audio import AUDIO_SUFFIXES
from voice_daemon.errors import ReferenceRejected, RequestError, UnknownVoice
from voice_daemon.files import replacing
from voice_daemon.voices.names import voice_name
from voice_daemon.voices.registry import ERROR_SUFFIX, SETTINGS_SUFFIX, Voice, VoiceRegistry
from voice_daemon.voices.validation import validate_file

log = logging.getLogger(__name__)

Upload = tuple[str, bytes]  # the client's file name (for messages only) and the content
_FORMATS = {"WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg", "MP3": ".mp3"}


def add_voice(registry: VoiceRegistry, name: str, clips: Sequence[Upload]) -> Voice:
    """Validate ``clips`` as the reference clips of a new voice ``name`` and put them into the folder.

    Raises RequestError (not a voice name, the name is taken, no clip) and ReferenceRejected
    naming every rejected clip and why; the voice is usable at once when this returns.
    """
    folder = registry.voices_dir
    voice_name(name)
    if not clips:
        raise RequestError("no audio clip was sent")
    if _exists(registry, name):
        raise RequestError(f"voice {name!r} exists already; delete it first to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".{name}.upload-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        staged = [_stage(staging, index, content) for index, (_, content) in enumerate(clips, 1)]
        _validate(staged, [client for client, _ in clips], name)
        if len(staged) == 1:
            os.rename(staged[0], folder / f"{name}{staged[0].suffix}")
        else:
            os.rename(staging, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("voice %s added over the API (%d clip(s))", name, len(clips))
    return registry.refresh(name) or registry.get(name)


def remove_voice(registry: VoiceRegistry, name: str) -> None:
    """Delete voice ``name`` (its clips, folder, tuned settings and error note); UnknownVoice if there
    is none."""
    folder = registry.voices_dir
    voice_name(name)
    if not _exists(registry, name):
        known = ", ".join(voice.name for voice in registry.all()) or "none"
        raise UnknownVoice(f"unknown voice {name!r} (voices: {known})")
    if (folder / name).is_dir():
        doomed = folder / f".{name}.delete-{uuid.uuid4().hex[:8]}"
        os.rename(folder / name, doomed)  # gone from the registry's view in one step
        shutil.rmtree(doomed)
    for suffix in (*AUDIO_SUFFIXES, SETTINGS_SUFFIX, ERROR_SUFFIX):
        (folder / f"{name}{suffix}").unlink(missing_ok=True)
    registry.refresh(name)
    log.info("voice %s removed over the API", name)


def _exists(registry: VoiceRegistry, name: str) -> bool:
    folder = registry.voices_dir
    on_disk = (folder / name).exists() or any((folder / f"{name}{s}").exists() for s in AUDIO_SUFFIXES)
    return on_disk or any(voice.name == name for voice in registry.all())


def _stage(staging: Path, index: int, content: bytes) -> Path:
    """Write one clip under a name of our own, with the suffix of the format it holds."""
    try:
        suffix = _FORMATS.get(sf.info(io.BytesIO(content)).format, ".wav")
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        suffix = ".wav"  # validation names the problem: not a readable audio file
    path = staging / f"clip{index:02d}{suffix}"
    with replacing(path, durable=True) as handle:
        handle.write(content)
    return path


def _validate(staged: list[Path], client_names: list[str], name: str) -> None:
    """Every clip must pass; ReferenceRejected lists each one that did not, by the client's file name."""
    reasons = []
    for index, (path, client) in enumerate(zip(staged, client_names, strict=True), 1):
        verdict, _ = validate_file(path)
        if verdict.problems:
            label = client[:100] or f"clip {index}"
            reasons.append(
                f"{label}: {'; '.join(problem.replace(str(path), label) for problem in verdict.problems)}"
            )
    if reasons:
        raise ReferenceRejected(f"voice {name!r} rejected: " + " | ".join(reasons))
