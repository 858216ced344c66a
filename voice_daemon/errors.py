"""The exception tree of voice-daemon: one base class, one subclass per kind of problem.

Every message names the problem in words a user can act on; callers show ``str(exc)``.  Every
class carries a stable ``code`` (what protocols map their own codes and statuses from; never
parse the message), and a :class:`RequestError` names the request ``field`` at fault when one is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pydantic import ValidationError

_SHOWN = 60  # characters of a bad value or name quoted in an error message


class VoiceDaemonError(Exception):
    """Base class of every error voice-daemon reports to a user."""

    code: ClassVar[str] = "synthesis_failed"


class ConfigError(VoiceDaemonError):
    """A configuration value is missing or invalid."""

    code = "config"


class ModelUnavailable(VoiceDaemonError):
    """The XTTS model files are missing and could not be downloaded."""

    code = "model_unavailable"


class AudioError(VoiceDaemonError):
    """An audio file could not be read or written."""

    code = "bad_audio"


class ReferenceRejected(VoiceDaemonError):
    """A reference recording failed validation; the message carries the reasons."""

    code = "reference_rejected"


class RequestError(VoiceDaemonError, ValueError):
    """A speech request is malformed: bad JSON, empty text, unknown language, ...

    It is a ValueError too, so pydantic validators report it as a validation error.
    ``field`` names the request field at fault (``None``: the payload as a whole);
    ``request_id`` is the refused request's own id, when it had a usable one.
    """

    code = "bad_request"
    default_field: ClassVar[str | None] = None

    def __init__(self, message: str, *, field: str | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.field = field if field is not None else self.default_field
        self.request_id = request_id


class UnknownVoice(RequestError):
    """A request names a voice that the registry does not have (or has rejected)."""

    code = "unknown_voice"
    default_field = "voice"


class IdInUse(RequestError):
    """A new request reuses the id of one still queued, for other content."""

    code = "id_in_use"
    default_field = "id"


class QueueFull(VoiceDaemonError):
    """The request queue is at its configured limit; the request was not accepted."""

    code = "queue_full"


class DuplicateRequest(VoiceDaemonError):
    """A second delivery of a request the queue already has (``outcome`` set once it has finished).

    Not an error to report: the first delivery is, or was, answered.
    """

    code = "duplicate"

    def __init__(self, message: str, outcome: Any = None) -> None:
        super().__init__(message)
        self.outcome = outcome


class Busy(VoiceDaemonError):
    """The interactive lane is full: the caller may try again shortly."""

    code = "busy"


class Starting(VoiceDaemonError):
    """The daemon is still loading the model: the caller may try again shortly."""

    code = "starting"


class Stopping(VoiceDaemonError):
    """The daemon is stopping: the request was not, or not wholly, served."""

    code = "stopping"


class Cancelled(VoiceDaemonError):
    """The caller went away or stopped reading, or the request was cut short."""

    code = "cancelled"


class PlaybackError(VoiceDaemonError):
    """The audio device is missing or failed while playing."""

    code = "playback_failed"


class StorageError(VoiceDaemonError):
    """A folder the daemon writes to is full or not writable; the message names it."""

    code = "storage_failed"


def describe_problems(exc: ValidationError, *, item: str = "field", show_input: bool = False) -> list[str]:
    """Each problem pydantic found, in words: the one formatter of requests, bodies and settings.

    ``item`` is what a name is ("field", "key"); ``show_input`` quotes the bad value too.
    """
    found = []
    for error in exc.errors():
        where = ".".join(clipped(str(part)) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            found.append(f"{where} is required")
        elif error["type"] == "extra_forbidden":
            found.append(f"unknown {item} {where!r}")
        elif error["type"] == "string_unicode":  # pydantic's own check, where a field has constraints
            found.append(f"{where or 'a field name'} holds a lone UTF-16 surrogate, which is not text")
        elif show_input:
            found.append(f"{where} = {clipped(repr(error.get('input')))}: {message}")
        else:
            found.append(f"{where}: {message}" if where else message)
    return found


def problem_field(exc: ValidationError) -> str | None:
    """The field the first problem is about (None: the whole)."""
    location = exc.errors()[0]["loc"]
    return str(location[0]) if location else None


def clipped(text: str) -> str:
    """``text`` cut to a length fit for an error message."""
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
