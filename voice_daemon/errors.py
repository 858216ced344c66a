"""The exception tree of voice-daemon: one base class, one subclass per kind of problem.

Every message names the problem in words a user can act on; callers show ``str(exc)``.
"""

from typing import Any


class VoiceDaemonError(Exception):
    """Base class of every error voice-daemon reports to a user."""


class ConfigError(VoiceDaemonError):
    """A configuration value is missing or invalid."""


class ModelUnavailable(VoiceDaemonError):
    """The XTTS model files are missing and could not be downloaded."""


class AudioError(VoiceDaemonError):
    """An audio file could not be read or written."""


class ReferenceRejected(VoiceDaemonError):
    """A reference recording failed validation; the message carries the reasons."""


class RequestError(VoiceDaemonError, ValueError):
    """A speech request is malformed: bad JSON, empty text, unknown language, ...

    It is a ValueError too, so pydantic validators report it as a validation error.
    ``request_id`` is the refused request's own id, when it had a usable one.
    """

    request_id: str | None = None


class UnknownVoice(RequestError):
    """A request names a voice that the registry does not have (or has rejected)."""


class QueueFull(VoiceDaemonError):
    """The request queue is at its configured limit; the request was not accepted."""


class DuplicateRequest(VoiceDaemonError):
    """A second delivery of a request the queue already has (``outcome`` set once it has finished).

    Not an error to report: the first delivery is, or was, answered.
    """

    def __init__(self, message: str, outcome: Any = None) -> None:
        super().__init__(message)
        self.outcome = outcome


class IdInUse(RequestError):
    """A new request reuses the id of one still queued, for other content."""


class Busy(VoiceDaemonError):
    """The interactive lane is full: the caller may try again shortly."""


class PlaybackError(VoiceDaemonError):
    """The audio device is missing or failed while playing."""


class StorageError(VoiceDaemonError):
    """A folder the daemon writes to is full or not writable; the message names it."""
