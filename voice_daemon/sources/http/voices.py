"""Voices over HTTP: ``GET`` (with status and reasons), ``POST`` (multipart upload), ``DELETE``.

The shapes follow OpenAI's custom voices (``client.audio.voices.create(name=..., audio_sample=...)``
works; ``consent`` is accepted and ignored), with the daemon's ``status``, ``files``,
``problems`` and ``warnings`` added.  An upload is one or more ``audio_sample`` clips for one
``name``; it goes through the seam, which validates every clip with the watched folder's checks
and writes the voice atomically into ``paths.voices`` only when all of them are usable.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse

from voice_daemon.core.port import VoiceInfo
from voice_daemon.errors import VoiceDaemonError
from voice_daemon.sources.http.failures import ApiError, api_error

_FIELDS = {"name", "audio_sample", "consent", "type"}


async def list_voices(request: Request) -> JSONResponse:
    state = request.app.state.source.ready_seam().state()
    data = [voice_entry(info, state.default_voice) for info in state.voices]
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "default_voice": state.default_voice,
            "default_voice_note": state.default_voice_note,
        }
    )


def voice_entry(info: VoiceInfo, default_voice: str) -> dict[str, Any]:
    return {
        "id": info.name,
        "object": "audio.voice",
        "type": "audio_sample",
        **info.to_dict(),
        "default": info.name == default_voice,
    }


async def add_voice(request: Request) -> JSONResponse:
    source = request.app.state.source
    seam = source.ready_seam()
    name, clips = await _upload(request, source.settings.max_upload_files)
    if any(info.name == name for info in seam.voices()):
        raise ApiError(
            409,
            f"voice {name!r} exists already; delete it first to replace it",
            param="name",
            code="voice_exists",
        )
    try:
        info = await run_in_threadpool(seam.add_voice, name, clips)
    except VoiceDaemonError as exc:
        raise api_error(exc, param="name") from None
    entry = voice_entry(info, seam.default_voice())
    return JSONResponse({**entry, "created_at": int(time.time())}, status_code=201)


async def delete_voice(request: Request) -> JSONResponse:
    seam = request.app.state.source.ready_seam()
    name = request.path_params["name"]
    try:
        await run_in_threadpool(seam.remove_voice, name)
    except VoiceDaemonError as exc:
        raise api_error(exc, param="voice_id") from None
    return JSONResponse({"id": name, "object": "audio.voice.deleted", "deleted": True})


async def _upload(request: Request, max_files: int) -> tuple[str, list[tuple[str, bytes]]]:
    """The name and the clips (client file name, content) of a multipart upload."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(
            400,
            "send the voice as multipart/form-data: 'name' and one or more 'audio_sample' files",
            code="invalid_content_type",
        )
    async with request.form(max_files=max_files, max_fields=len(_FIELDS)) as form:
        unknown = sorted(set(form.keys()) - _FIELDS)
        if unknown:
            raise ApiError(
                400, f"unknown field(s): {', '.join(unknown)}", param=unknown[0], code="unknown_field"
            )
        name = form.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "name is required", param="name", code="missing_name")
        files = form.getlist("audio_sample")
        if not files or not all(isinstance(clip, UploadFile) for clip in files):
            raise ApiError(
                400,
                "send at least one clip as a file in 'audio_sample'",
                param="audio_sample",
                code="missing_audio",
            )
        return name, [
            (clip.filename or "", await clip.read()) for clip in files if isinstance(clip, UploadFile)
        ]
