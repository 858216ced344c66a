"""Small helpers shared by the benchmark reports: medians, verdicts and the table row type."""

from __future__ import annotations

import statistics
from typing import Any

Row = tuple[str, str, str, str, str, str, str]


def med(values: list[Any], key: str | None = None) -> float:
    """The median of ``values`` (of their ``key``), skipping None; nan when there is none."""
    picked = [value[key] if key else value for value in values if (value[key] if key else value) is not None]
    return float(statistics.median(picked)) if picked else float("nan")


def verdict(ok: bool) -> str:
    """A table's 'met' cell."""
    return "**yes**" if ok else "no"


def per_audio_second(runs: list[dict[str, float]]) -> float:
    """Median seconds of work per second of audio."""
    return med([run["seconds"] / run["audio_s"] for run in runs])
