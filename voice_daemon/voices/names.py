"""The one rule for voice names: letters, digits, ``-`` and ``_``, so a name never becomes a path."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

VOICE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
VoiceName = Annotated[str, Field(pattern=VOICE_NAME.pattern)]
