"""The one rule for voice names: letters, digits, ``-`` and ``_``, so a name never becomes a path."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from voice_daemon.errors import RequestError, clipped

VOICE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def voice_name(name: str) -> str:
    """``name`` if it is a voice name; RequestError (field ``voice``) saying why not otherwise."""
    if not VOICE_NAME.match(name):
        if not name.isascii() and not name.encode("utf-8", "replace").decode() == name:
            raise RequestError("voice holds a lone UTF-16 surrogate, which is not text", field="voice")
        raise RequestError(
            f"{clipped(name)!r} is not a voice name (1 to 64 letters, digits, '-' and '_')", field="voice"
        )
    return name


VoiceName = Annotated[str, AfterValidator(voice_name)]
