"""The voices as Wyoming shows them: one entry per voice and language, so the entry implies both.

Home Assistant sends back only the chosen entry's name, never the pipeline's language, so the
voice ``anna`` is offered as ``anna (de)``, ``anna (en)``, ... each with one language; Home
Assistant lists for a pipeline the entries of its language.  A client may also name a voice
plainly (``anna``) and send ``language``; an explicit ``language`` wins over the entry's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice

from voice_daemon.core.request import LANGUAGES
from voice_daemon.errors import RequestError
from voice_daemon.version import __version__

PROGRAM = "voice-daemon"
_XTTS = Attribution(name="Coqui XTTS v2", url="https://huggingface.co/coqui/XTTS-v2")
# "anna (de)"; the voice part is checked by the one name rule when the request is validated
_ENTRY = re.compile(r"^(?P<voice>.+) \((?P<language>[A-Za-z-]+)\)$")


def entry_name(voice: str, language: str) -> str:
    """The Wyoming voice name of ``voice`` speaking ``language``: ``anna (de)``."""
    return f"{voice} ({language})"


def info(voices: Sequence[str]) -> Info:
    """The answer to ``describe``: one TTS program offering every voice in every language."""
    entries = [
        TtsVoice(
            name=entry_name(voice, language),
            description=entry_name(voice, language),
            attribution=_XTTS,
            installed=True,
            version=None,
            languages=[language],
        )
        for voice in voices
        for language in LANGUAGES
    ]
    program = TtsProgram(
        name=PROGRAM,
        description="Cloned voices (Coqui XTTS v2), by voice-daemon",
        attribution=_XTTS,
        installed=True,
        version=__version__,
        voices=entries,
        supports_synthesize_streaming=True,
    )
    return Info(tts=[program])


def chosen(voice: Any) -> dict[str, str]:
    """The request fields (``voice``, ``language``) that a Wyoming ``voice`` object asks for.

    None or an empty object means the default voice and language.  Raises RequestError when it is
    not an object of strings.
    """
    if voice is None:
        return {}
    if not isinstance(voice, dict) or not all(
        isinstance(voice.get(k), str | None) for k in ("name", "language")
    ):
        raise RequestError("voice must be an object with a string 'name' and/or 'language'")
    fields: dict[str, str] = {}
    if name := voice.get("name"):
        found = _ENTRY.match(name)
        fields = found.groupdict() if found else {"voice": name}
    if language := voice.get("language"):
        fields["language"] = language
    return fields
