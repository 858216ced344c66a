"""voice-daemon: a local, private voice-cloning speech service built on Coqui XTTS v2."""

__version__ = "0.1.0"
