"""The listening-test store: takes to rate and the ratings people gave, in one SQLite file.

Takes are stored as WAV files in ``takes/`` beside the database and known by random ids, so the listening
page never learns a voice, a setting or a path.  MOS ratings are 1 to 5; an A/B preference names
the preferred take of two with the same voice and text (or none).
"""

from __future__ import annotations

import csv
import itertools
import json
import random
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voice_daemon.audio import Clip, write_wav_atomic
from voice_daemon.errors import RequestError

SCHEMA = """
CREATE TABLE IF NOT EXISTS takes (
    id TEXT PRIMARY KEY, voice TEXT NOT NULL, text TEXT NOT NULL, settings TEXT NOT NULL,
    settings_key TEXT NOT NULL, score REAL, source TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS mos (
    id INTEGER PRIMARY KEY, take TEXT NOT NULL REFERENCES takes(id),
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5), at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ab (
    id INTEGER PRIMARY KEY, take_a TEXT NOT NULL REFERENCES takes(id),
    take_b TEXT NOT NULL REFERENCES takes(id), preferred TEXT REFERENCES takes(id), at REAL NOT NULL);
"""


@dataclass(frozen=True)
class Take:
    """A take known to the store."""

    id: str
    voice: str
    text: str
    settings: dict[str, Any]
    settings_key: str
    score: float | None


def settings_key(settings: dict[str, Any]) -> str:
    """A stable short name for a settings dict (what tune compares candidates by)."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


class RatingStore:
    """Takes and ratings in ``path`` (SQLite); audio in ``path.parent / "takes"``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.audio_dir = path.parent / "takes"
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=10)
        connection.row_factory = sqlite3.Row
        try:
            with connection:
                connection.execute("PRAGMA foreign_keys = ON")
                yield connection
        finally:
            connection.close()

    def add_take(
        self,
        audio: Clip,
        voice: str,
        text: str,
        settings: dict[str, Any] | None = None,
        score: float | None = None,
        source: str = "cli",
    ) -> str:
        """Store ``audio`` as a WAV file and record the take; returns its new id."""
        take_id = secrets.token_hex(8)
        write_wav_atomic(self.audio_file(take_id), audio.samples, audio.sample_rate)
        settings = settings or {}
        with self._db() as db:
            db.execute(
                "INSERT INTO takes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    take_id,
                    voice,
                    text,
                    json.dumps(settings),
                    settings_key(settings),
                    score,
                    source,
                    time.time(),
                ),
            )
        return take_id

    def audio_file(self, take_id: str) -> Path:
        return self.audio_dir / f"{take_id}.wav"

    def take(self, take_id: str) -> Take:
        """The take ``take_id``; RequestError if there is none."""
        with self._db() as db:
            row = db.execute("SELECT * FROM takes WHERE id = ?", (take_id,)).fetchone()
        if row is None:
            raise RequestError(f"no take {take_id!r}")
        return _take(row)

    def takes(self, voice: str | None = None) -> list[Take]:
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM takes WHERE ? IS NULL OR voice = ? ORDER BY created", (voice, voice)
            )
            return [_take(row) for row in rows]

    def rate(self, take_id: str, rating: object) -> None:
        """Record a MOS rating (1-5) of ``take_id``; anything else (as a client sent it) is refused."""
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise RequestError(f"a rating is a whole number from 1 to 5, not {rating!r}")
        self.take(take_id)
        with self._db() as db:
            db.execute("INSERT INTO mos (take, rating, at) VALUES (?, ?, ?)", (take_id, rating, time.time()))

    def prefer(self, take_a: str, take_b: str, preferred: str | None) -> None:
        """Record an A/B preference: ``preferred`` is one of the two ids, or None for no preference."""
        if preferred not in (take_a, take_b, None) or take_a == take_b:
            raise RequestError("a preference names one of two different takes, or none")
        first, second = self.take(take_a), self.take(take_b)
        if (first.voice, first.text) != (second.voice, second.text):
            raise RequestError("an A/B comparison needs two takes of the same voice and text")
        with self._db() as db:
            db.execute(
                "INSERT INTO ab (take_a, take_b, preferred, at) VALUES (?, ?, ?, ?)",
                (take_a, take_b, preferred, time.time()),
            )

    def next_task(self, rng: random.Random | None = None) -> dict[str, Any]:
        """A blind task: rate a least-rated take, or compare a least-compared pair of takes.

        A pair (two takes of one voice and text) comes up once it has been compared fewer times
        than every take has been rated, so each take is first rated alone, then compared.
        Ties are broken at random, and so is which take of a pair is A.
        """
        rng = rng or random.Random()
        with self._db() as db:
            takes = db.execute(
                "SELECT t.id, t.voice, t.text, COUNT(m.id) AS n FROM takes t "
                "LEFT JOIN mos m ON m.take = t.id GROUP BY t.id"
            ).fetchall()
            compared = db.execute("SELECT take_a, take_b FROM ab").fetchall()
        if not takes:
            return {"kind": "none"}
        ratings = {row["id"]: row["n"] for row in takes}
        times = [frozenset(row) for row in compared]
        pairs = {
            frozenset((a["id"], b["id"])): times.count(frozenset((a["id"], b["id"])))
            for a, b in itertools.combinations(takes, 2)
            if (a["voice"], a["text"]) == (b["voice"], b["text"])
        }
        if pairs and min(pairs.values()) < min(ratings.values()):
            least = sorted(sorted(pair) for pair, n in pairs.items() if n == min(pairs.values()))
            a, b = rng.sample(rng.choice(least), 2)
            return {"kind": "ab", "a": a, "b": b, "text": self.take(a).text}
        fewest = min(ratings.values())
        take = self.take(rng.choice(sorted(t for t, n in ratings.items() if n == fewest)))
        return {"kind": "mos", "take": take.id, "text": take.text}

    def ratings(self) -> list[dict[str, Any]]:
        """Every MOS rating and A/B preference, joined with its take(s)."""
        with self._db() as db:
            mos = db.execute(
                "SELECT 'mos' AS kind, m.at, t.voice, t.text, t.id AS take, m.rating, NULL AS other, "
                "NULL AS preferred, t.score, t.settings FROM mos m JOIN takes t ON t.id = m.take"
            )
            rows = [dict(row) for row in mos]
            ab = db.execute(
                "SELECT 'ab' AS kind, a.at, t.voice, t.text, a.take_a AS take, NULL AS rating, "
                "a.take_b AS other, a.preferred, t.score, t.settings FROM ab a JOIN takes t "
                "ON t.id = a.take_a"
            )
            rows += [dict(row) for row in ab]
        return sorted(rows, key=lambda row: row["at"])

    def export_csv(self, path: Path) -> int:
        """Write every rating to ``path`` as CSV; returns the number of rows."""
        rows = self.ratings()
        fields = ["kind", "at", "voice", "text", "take", "rating", "other", "preferred", "score", "settings"]
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        return len(rows)

    def human_scores(self, voice: str) -> dict[str, float]:
        """Per settings key of ``voice``: human judgement from 0 to 1 (MOS and A/B wins, averaged)."""
        with self._db() as db:
            mos = db.execute(
                "SELECT t.settings_key AS k, AVG(m.rating) AS v FROM mos m JOIN takes t "
                "ON t.id = m.take WHERE t.voice = ? GROUP BY k",
                (voice,),
            ).fetchall()
            ab = db.execute(
                "SELECT a.take_a, a.take_b, a.preferred FROM ab a JOIN takes t ON t.id = a.take_a "
                "WHERE t.voice = ?",
                (voice,),
            ).fetchall()
        parts: dict[str, list[float]] = {row["k"]: [(row["v"] - 1) / 4] for row in mos}
        wins: dict[str, list[float]] = {}
        for row in ab:
            for take_id in (row["take_a"], row["take_b"]):
                won = 0.5 if row["preferred"] is None else float(row["preferred"] == take_id)
                wins.setdefault(self.take(take_id).settings_key, []).append(won)
        for key, values in wins.items():
            parts.setdefault(key, []).append(sum(values) / len(values))
        return {key: sum(values) / len(values) for key, values in parts.items()}


def _take(row: sqlite3.Row) -> Take:
    return Take(
        row["id"], row["voice"], row["text"], json.loads(row["settings"]), row["settings_key"], row["score"]
    )
