"""Hostile input for any request source, and the checks that every piece of it was answered.

A :class:`Hostile` is one payload (bytes, as a source receives them) that must be refused, the id
its ``failed`` answer must carry (None when it has no usable one) and a fragment of the error.
:data:`NAMED` holds the cases of issue 15 and their relatives; :func:`random_payloads` adds seeded
random ones, each poisoned so that it can never become a request the daemon would speak.

To cover a new source (Wyoming, HTTP): send every payload of ``NAMED + random_payloads(n)``
through it as the body of a request (a source with a framing of its own wraps the bytes in it),
collect the ``failed`` events (``voice/event`` with MQTT enabled, or a seam subscriber), then call
:func:`check_answers`, :func:`assert_clean_log` on the daemon's log and compare
:func:`memory_mb` of the daemon before and after.  ``tests/test_hostile.py`` does this for MQTT
and the drop folder.
"""

from __future__ import annotations

import json
import random
import struct
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

MAX_TEXT = 5000  # the default synthesis.max_text_length
MAX_PAYLOAD = 65536  # the default mqtt.max_payload_bytes (the drop folder uses the same bound)


@dataclass(frozen=True)
class Hostile:
    """A payload that must be refused: with ``id`` (or a new id when None), the error naming ``reason``."""

    name: str
    payload: bytes
    id: str | None
    reason: str = ""

    @property
    def is_json(self) -> bool:
        """Read as JSON by a source that tells JSON from plain text by the first character."""
        return self.payload.lstrip()[:1] in (b"{", b"[")

    def unread_when_oversized(self) -> Hostile:
        """This payload as a source answers it that never reads more than the size limit (the drop
        folder): over the limit it cannot know the id."""
        return replace(self, id=None) if len(self.payload) > MAX_PAYLOAD else self


def _request(name: str, reason: str, **fields: object) -> Hostile:
    return Hostile(name, json.dumps({"id": name, **fields}).encode(), name, reason)


def _raw(name: str, payload: bytes, reason: str, request_id: str | None = None) -> Hostile:
    return Hostile(name, payload, request_id, reason)


NAMED: list[Hostile] = [
    # issue 15, defect 1: nesting deeper than the JSON decoder's recursion limit (within the size limit)
    _raw(
        "deep-object",
        b'{"id": "deep-object", "text": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001,
        "nested too deeply",
    ),
    _raw("deep-array", b"[" * 10000 + b"]" * 10000, "nested too deeply"),
    _raw(
        "deep-value",
        b'{"id": "deep-value", "text": "hi", "volume": ' + b"[" * 3000 + b"]" * 3000 + b"}",
        "nested too deeply",
    ),
    _request("nested-500", "volume", text="hi", volume=json.loads("[" * 500 + "]" * 500)),
    # defect 2: JSON escapes that make lone surrogates, in every kind of field
    _raw(
        "surrogate",
        b'{"text": "hello \\ud800 there", "id": "surrogate"}',
        "lone UTF-16 surrogate",
        "surrogate",
    ),
    _raw(
        "surrogate-low",
        b'{"text": "\\udfff", "id": "surrogate-low"}',
        "lone UTF-16 surrogate",
        "surrogate-low",
    ),
    _raw(
        "surrogate-key",
        b'{"text": "hi", "id": "surrogate-key", "\\ud800": 1}',
        "lone UTF-16 surrogate",
        "surrogate-key",
    ),
    _raw(
        "surrogate-voice",
        b'{"text": "hi", "id": "surrogate-voice", "voice": "\\ud83d"}',
        "surrogate",
        "surrogate-voice",
    ),
    _raw(
        "surrogate-language",
        b'{"text": "hi", "id": "surrogate-language", "language": "e\\udc00"}',
        "surrogate",
        "surrogate-language",
    ),
    _raw("surrogate-id", b'{"text": "hi", "id": "x\\ud800"}', "id"),
    _raw("cesu-8", '{"text": "\ud800", "id": "cesu"}'.encode("utf-8", "surrogatepass"), "not UTF-8"),
    # defect 7: what is not an object
    _raw("array", b"[1, 2]", "must be an object"),
    _raw("array-of-requests", b'[{"text": "a"}, {"text": "b"}]', "must be an object"),
    _raw("bracket-text", b"[Kitchen] dinner is ready", "read as JSON"),
    _raw("brace-text", b"{oops} the door", "read as JSON"),
    # numbers JSON accepts and Python cannot use
    _raw("long-number", b'{"id": "long-number", "text": "hi", "volume": ' + b"1" * 5000 + b"}", "digits"),
    _raw("nan", b'{"id": "nan", "text": "hi", "volume": NaN}', "volume", "nan"),
    _raw("infinity", b'{"id": "infinity", "text": "hi", "volume": -Infinity}', "volume", "infinity"),
    _raw("huge-float", b'{"id": "huge-float", "text": "hi", "volume": 1e999}', "volume", "huge-float"),
    # broken JSON and bytes
    _raw("truncated", b'{"id": "truncated", "text": ', "not valid JSON"),
    _raw("trailing", b'{"id": "trailing", "text": "hi"} and more', "not valid JSON"),
    _raw("not-utf8", b"\xff\xfe\x00h\x00i", "not UTF-8"),
    _raw("not-utf8-json", b'{"id": "x", "text": "caf\xe9"}', "not UTF-8"),
    _raw(
        "nul-bytes",
        b'{"id": "nul-bytes", "text": "a\\u0000b", "voice": "ghost"}',
        "unknown voice",
        "nul-bytes",
    ),
    _raw("empty", b"", "text is empty"),
    _raw("blank", b" \n\t ", "text is empty"),
    _raw("bom-only", b"\xef\xbb\xbf", "text is empty"),
    # fields of the wrong type or value
    _request("text-number", "text", text=5),
    _request("text-list", "text", text=["a"]),
    _request("text-object", "text", text={"a": 1}),
    _request("text-null", "text", text=None),
    _request("text-missing", "text is required"),
    _request("text-too-long", f"the maximum is {MAX_TEXT}", text="x" * (MAX_TEXT + 1)),
    _request("unknown-field", "unknown field 'pitch'", text="hi", pitch=3),
    _request("huge-field-name", "unknown field", text="hi", **{"k" * 50_000: 1}),
    _request("forbidden-fields", "may not be set", text="hi", source="x", context={"a": "b"}),
    _request("voice-path", "is not a voice name", text="hi", voice="../../etc/passwd"),
    _request("voice-huge", "is not a voice name", text="hi", voice="v" * 50_000),
    _request("unknown-voice", "unknown voice 'ghost'", text="hi", voice="ghost"),
    _request("language-unknown", "unsupported language", text="hi", language="tlh"),
    _request("language-huge", "language", text="hi", language="e" * 50_000),
    _request("priority", "priority", text="hi", priority="now!"),
    _request("output-path", "output", text="hi", output="/tmp/x.wav"),
    _request("volume-high", "volume", text="hi", volume=3),
    _request("volume-type", "volume", text="hi", volume="loud"),
    _raw("duplicate-keys", b'{"id": "duplicate-keys", "text": "ok", "text": 7}', "text", "duplicate-keys"),
    _raw("id-number", b'{"id": 5, "text": "hi"}', "id"),
    _raw("id-path", b'{"id": "../../etc/passwd", "text": "hi"}', "id"),
    _raw("id-huge", b'{"id": "' + b"i" * 50_000 + b'", "text": "hi"}', "id"),
    _raw(
        "oversized",
        json.dumps({"id": "oversized", "text": "hi", "pad": "p" * MAX_PAYLOAD}).encode(),
        f"the maximum is {MAX_PAYLOAD}",
        "oversized",
    ),
]

_POISONS: list[tuple[str, object]] = [  # each makes any request it is put into a refusal
    ("voice", "ghost"),
    ("language", "xx"),
    ("priority", "later"),
    ("volume", 2),
    ("text", ""),
    ("text", 3),
    ("unknown", 1),
    ("output", "speakers"),
    ("voice", "a/b"),
    ("text", "\ud800"),
]
_FIELDS = [
    "text",
    "voice",
    "language",
    "output",
    "priority",
    "volume",
    "id",
    "name",
    "context",
    "x",
    "\u00e9",
]


def random_payloads(count: int, seed: int = 15) -> list[Hostile]:
    """``count`` seeded random payloads that must all be refused: poisoned objects, broken JSON, bad bytes."""
    rng = random.Random(seed)
    makers = [_poisoned_object, _truncated_object, _bad_bytes, _random_nesting]
    return [rng.choice(makers)(rng, f"r{seed}-{n}") for n in range(count)]


def _poisoned_object(rng: random.Random, name: str) -> Hostile:
    data: dict[str, object] = {field: _value(rng, 3) for field in rng.sample(_FIELDS, rng.randint(0, 5))}
    data.pop("id", None)
    key, poison = rng.choice(_POISONS)
    data[key] = poison
    if rng.random() < 0.9:
        data["id"] = name
    raw = json.dumps(data, ensure_ascii=rng.random() < 0.7).encode("utf-8", "surrogatepass")  # raw surrogates
    return Hostile(name, raw, name if "id" in data and _decodes(raw) else None)


def _truncated_object(rng: random.Random, name: str) -> Hostile:
    body = json.dumps({"id": name, "text": _text(rng, 40), "voice": "ghost"})
    return Hostile(name, body[: rng.randrange(1, len(body))].encode(), None, "not valid JSON")


def _bad_bytes(rng: random.Random, name: str) -> Hostile:
    data = bytearray(rng.randbytes(rng.randint(0, 200)))
    data.insert(rng.randint(0, len(data)), 0xFF)  # never valid UTF-8
    return Hostile(name, bytes(data), None, "not UTF-8")


def _random_nesting(rng: random.Random, name: str) -> Hostile:
    depth = rng.choice([2, 50, 300, 2000, 20_000])  # parsed below 1000 levels (Python's recursion limit)
    opener, closer = rng.choice([("[", "]"), ('{"a": ', "}")])
    inner = opener * depth + "1" + closer * depth
    return Hostile(name, f'{{"id": "{name}", "text": {inner}}}'.encode(), name if depth < 1000 else None)


def _value(rng: random.Random, depth: int) -> object:
    kind = rng.randrange(8 if depth > 0 else 6)
    if kind == 0:
        return _text(rng, 30)
    if kind == 1:
        return rng.randint(-(2**70), 2**70)
    if kind == 2:
        return rng.choice([0.5, -1e308, 1e-320, float("nan"), float("inf")])
    if kind == 3:
        return rng.choice([None, True, False])
    if kind == 4:
        return ""
    if kind == 5:
        return "x" * rng.randint(0, 6000)
    if kind == 6:
        return [_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {_text(rng, 8): _value(rng, depth - 1) for _ in range(rng.randint(0, 3))}


def _text(rng: random.Random, length: int) -> str:
    """Random text over awkward code points: controls, combining marks, RTL, emoji, lone surrogates."""
    alphabet = ["a", " ", "\u0000", "\u0301", "\u202e", "\U0001f600", "\ufeff", "\ud800", "\udfff", "\\", '"']
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, length)))


def _decodes(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def sparse_wav(path: Path, size: int, rate: int = 24_000) -> Path:
    """A hostile reference: a 16-bit mono WAV of ``size`` bytes whose samples are a hole in the file
    (zeros that take no disk space)."""
    data = size - 44
    header = (
        b"RIFF"
        + struct.pack("<I", size - 8)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16)
    )
    with path.open("wb") as handle:
        handle.write(header + b"data" + struct.pack("<I", data))
        handle.truncate(size)
    return path


def lying_flac(source: Path, path: Path, frames: int = 2**31) -> Path:
    """A hostile reference: ``source`` (a FLAC) with its STREAMINFO claiming ``frames`` samples."""
    data = bytearray(source.read_bytes())
    assert data[:4] == b"fLaC"
    fields = int.from_bytes(data[18:26], "big")  # sample rate, channels, bits, then 36 bits of total samples
    data[18:26] = ((fields >> 36 << 36) | frames).to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return path


def check_answers(payloads: Iterable[Hostile], events: list[dict]) -> None:
    """Every payload answered by exactly one ``failed`` event and nothing else: by its own id when it
    had a usable one, the others by ids of their own; and each named reason in its error."""
    payloads = list(payloads)
    assert all(event["state"] == "failed" for event in events), [e for e in events if e["state"] != "failed"][
        :5
    ]
    by_id = Counter(event["id"] for event in events)
    own = {payload.id: payload for payload in payloads if payload.id is not None}
    unanswered = [name for name in own if by_id[name] != 1]
    assert not unanswered, f"not answered exactly once: {[(n, by_id[n]) for n in unanswered[:10]]}"
    others = sum(count for request_id, count in by_id.items() if request_id not in own)
    assert others == len(payloads) - len(own), (
        f"{others} answers with other ids for {len(payloads) - len(own)}"
    )
    errors = {event["id"]: event["error"] for event in events}
    for payload in payloads:
        if payload.id is not None and payload.reason:
            assert payload.reason in errors[payload.id], (payload.name, errors[payload.id])


def assert_clean_log(log: str) -> None:
    """No traceback, no error swallowed by logging or by a cffi callback."""
    for marker in ("Traceback", "Exception ignored", "--- Logging error ---"):
        assert marker not in log, (
            f"{marker!r} in the log:\n{log[log.index(marker) - 2000 : log.index(marker) + 2000]}"
        )


def memory_mb(pid: int) -> dict[str, float]:
    """The resident memory of process ``pid`` now (``VmRSS``) and at its peak (``VmHWM``), in MB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}
