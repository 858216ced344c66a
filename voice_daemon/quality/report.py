"""Listening-test results per voice: a text summary and a plot of ratings and automatic scores."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice_daemon.quality.ratings import RatingStore


@dataclass(frozen=True)
class VoiceSummary:
    """What the listening tests and the automatic score say about one voice."""

    voice: str
    takes: int
    ratings: list[int]
    scores: list[float]
    ab_decided: int
    ab_ties: int

    @property
    def mos(self) -> float | None:
        return float(np.mean(self.ratings)) if self.ratings else None

    def line(self) -> str:
        """One line of ``eval --export``'s summary."""
        mos = "no MOS ratings"
        if self.ratings:
            mos = f"MOS {self.mos:.2f} ± {np.std(self.ratings):.2f} ({len(self.ratings)} ratings)"
        score = (
            f"score {np.mean(self.scores):.2f} ({len(self.scores)} scored)" if self.scores else "no scores"
        )
        ab = f"A/B {self.ab_decided} decided, {self.ab_ties} ties"
        return f"{self.voice:20} {self.takes:4} takes  {mos}; {score}; {ab}"


def summarise(store: RatingStore) -> list[VoiceSummary]:
    """One summary per voice that has takes, in name order."""
    ratings = store.ratings()
    summaries = []
    for voice in sorted({take.voice for take in store.takes()}):
        takes = store.takes(voice)
        mine = [row for row in ratings if row["voice"] == voice]
        ab = [row for row in mine if row["kind"] == "ab"]
        summaries.append(
            VoiceSummary(
                voice,
                len(takes),
                [row["rating"] for row in mine if row["kind"] == "mos"],
                [take.score for take in takes if take.score is not None],
                sum(row["preferred"] is not None for row in ab),
                sum(row["preferred"] is None for row in ab),
            )
        )
    return summaries


def plot(summaries: list[VoiceSummary], path: Path) -> Path:
    """Write a PNG: MOS rating counts per voice (left) and automatic score distributions (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.8 / max(len(summaries), 1)
    for index, summary in enumerate(summaries):
        counts = [summary.ratings.count(value) for value in range(1, 6)]
        left.bar(
            np.arange(1, 6) + (index - len(summaries) / 2 + 0.5) * width, counts, width, label=summary.voice
        )
        if summary.scores:
            right.hist(summary.scores, bins=np.linspace(0, 1, 21), alpha=0.6, label=summary.voice)
    left.set(title="Listening test: MOS ratings", xlabel="rating", ylabel="count", xticks=range(1, 6))
    right.set(title="Automatic quality score", xlabel="score", ylabel="takes", xlim=(0, 1))
    for axes in (left, right):
        if summaries:
            axes.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path
