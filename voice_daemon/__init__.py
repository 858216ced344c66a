"""voice-daemon: a local, private voice-cloning speech service built on Coqui XTTS v2.

The Python API::

    from voice_daemon import VoiceCloning

    VoiceCloning().clone_voice("Hello.", "voices/default.flac", "en", "hello.wav")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voice_daemon.version import __version__

__all__ = ["Speech", "VoiceCloning", "__version__"]

if TYPE_CHECKING:
    from voice_daemon.api import Speech, VoiceCloning


def __getattr__(name: str) -> Any:
    """Import the API on first use, so that ``import voice_daemon`` stays cheap."""
    if name in ("Speech", "VoiceCloning"):
        from voice_daemon import api

        return getattr(api, name)
    raise AttributeError(f"module 'voice_daemon' has no attribute {name!r}")
