"""``voice-daemon batch FILE``: many requests from JSONL or CSV into one audio file each.

Each row is a request (``text`` and optional ``voice``, ``language``, ``id``).  Its file is
``OUT/<id>.wav``, or ``OUT/<row>-<hash>.wav`` without an id, where the hash covers the row's
content: re-running skips rows whose file exists (files are written atomically, so an existing
file is complete) and redoes rows that changed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voice_daemon.api import VoiceCloning
from voice_daemon.audio import write_wav_atomic
from voice_daemon.core.request import Limits, make_request
from voice_daemon.errors import RequestError, VoiceDaemonError
from voice_daemon.files import remove_stale_temporaries
from voice_daemon.sinks.files import output_path
from voice_daemon.synthesis.types import SAMPLE_RATE

log = logging.getLogger(__name__)


@dataclass
class Summary:
    written: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)

    def report(self) -> str:
        total = self.written + self.skipped + len(self.failures)
        lines = [
            f"{total} requests: {self.written} written, {self.skipped} already done, "
            f"{len(self.failures)} failed"
        ]
        return "\n".join(lines + [f"  - {failure}" for failure in self.failures])


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | RequestError]]:
    """Rows of a ``.csv`` (with a header) or JSON-lines file, numbered from 1; bad rows as errors."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if path.suffix.lower() == ".csv":
            for number, row in enumerate(csv.DictReader(handle), start=1):
                yield number, {key: value for key, value in row.items() if key and value not in (None, "")}
            return
        number = 0
        for line in handle:
            if not line.strip():
                continue
            number += 1
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, RequestError(f"not valid JSON: {exc.msg}")
                continue
            yield number, data if isinstance(data, dict) else RequestError("a row must be a JSON object")


def run_batch(
    cloning: VoiceCloning, source: Path, out_dir: Path, voice: str, language: str, progress: bool
) -> Summary:
    """Synthesise every row of ``source`` into ``out_dir``; returns what happened."""
    from tqdm import tqdm

    rows = list(read_rows(source))
    summary = Summary()
    if out_dir.is_dir():
        remove_stale_temporaries(out_dir)
    limits = Limits.configured(cloning.settings)
    for number, row in tqdm(rows, desc=source.name, unit="request", disable=not progress, file=sys.stderr):
        try:
            if isinstance(row, RequestError):
                raise row
            request = make_request({"language": language, **row}, limits, source="batch")
            target = output_path(out_dir, request.id if "id" in row else f"{number:05d}-{_digest(row)}")
            if target.exists():
                summary.skipped += 1
                continue
            row_language = request.language or language
            audio = cloning.engine.synthesize(
                cloning.spoken(request.text, row_language),
                row_language,
                cloning.voice_latents(request.voice or voice),
                params=cloning.settings.sampling,
            )
            write_wav_atomic(target, audio, SAMPLE_RATE)
            summary.written += 1
        except VoiceDaemonError as exc:
            summary.failures.append(f"row {number}: {exc}")
    return summary


def _digest(row: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(row, sort_keys=True).encode()).hexdigest()[:8]
