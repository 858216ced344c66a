"""The streaming figures of ``docs/benchmarks.md``: speed against stock per thread setting, length
scaling, first audio against the figure before incremental decoding, gaps, and equivalence."""

from __future__ import annotations

from typing import Any

from voice_daemon.bench.figures import Row, med, per_audio_second, verdict
from voice_daemon.bench.gaps import TARGET_EXTRA_SILENCE_S, TARGET_LATE_S

# full model, whole-prefix re-decoding (2026-11-26): ours / stock per audio second by threads, first audio
BEFORE = {"default_threads": 1.47, "1_thread": 1.58, "first_audio_s": 3.86}


def rows(results: dict[str, Any]) -> list[Row]:
    """Rows for the main table: targets of issue 14."""
    return [*_speed(results), *_scaling(results), *_first_audio(results), *_gaps(results)]


def _speed(results: dict[str, Any]) -> list[Row]:
    found: list[Row] = []
    for name, speed in results.get("synthesis", {}).items():
        runs = speed["runs"]
        for threads in ("default_threads", "1_thread"):
            stock = per_audio_second(runs[f"stock_{threads}"])
            for variant in ("ours", "ours_int8"):
                if f"{variant}_{threads}" not in runs:
                    continue
                ours = per_audio_second(runs[f"{variant}_{threads}"])
                before = f" (before: {BEFORE[threads]}x)" if name == "full" and variant == "ours" else ""
                label = "int8 GPT" if variant == "ours_int8" else "fp32"
                figure = (
                    f"synthesis per audio second, {label}, {threads.replace('_', ' ')}, {name} (s){before}"
                )
                found.append(
                    (
                        "14",
                        figure,
                        f"{ours:.2f}",
                        f"{stock:.2f} (`Xtts.inference`, fp32)",
                        f"{ours / stock:.2f}x",
                        "≤ 0.8x",
                        verdict(ours / stock <= 0.8),
                    )
                )
    return found


def _scaling(results: dict[str, Any]) -> list[Row]:
    found: list[Row] = []
    for name, figures in results.get("scaling", {}).items():
        runs = figures["runs"]
        for key in sorted(k.removeprefix("long_") for k in runs if k.startswith("long_")):
            short, long = per_audio_second(runs[f"short_{key}"]), per_audio_second(runs[f"long_{key}"])
            seconds = med(runs[f"long_{key}"], "audio_s")
            setting = key.replace("_", " ")
            figure = f"cost per audio second, {seconds:.0f} s piece against 4.5 s, {setting}, {name} (s)"
            found.append(
                (
                    "14",
                    figure,
                    f"{long:.2f} / {short:.2f}",
                    "–",
                    f"{long / short:.2f}x",
                    "≤ 1.15x",
                    verdict(long / short <= 1.15),
                )
            )
    return found


def _first_audio(results: dict[str, Any]) -> list[Row]:
    figures = results.get("first_audio", {}).get("full")
    if not figures:
        return []
    ours = med(figures["synthesised"], "first_audio_s")
    return [
        (
            "14",
            "time to first audio at the sink, two sentences, full, against before (s)",
            f"{ours:.2f}",
            f"{BEFORE['first_audio_s']:.2f} (before, 2026-11-26)",
            f"{ours / BEFORE['first_audio_s']:.2f}x",
            "≤ 1.00x",
            verdict(ours <= BEFORE["first_audio_s"]),
        )
    ]


def _gaps(results: dict[str, Any]) -> list[Row]:
    found: list[Row] = []
    for name, figures in results.get("gaps", {}).items():
        between = med(figures["synthesised"], "between_sentences_s") * 1000
        within = med(figures["synthesised"], "within_sentences_s")
        cached = max(gap["gap_s"] for take in figures["cached"] for gap in take["gaps"] or [{"gap_s": 0.0}])
        found.append(
            (
                "14",
                f"gap between the sentences at the sink / silence within them, {name}",
                f"{between:.0f} ms / {within:.2f} s",
                f"{cached * 1000:.0f} ms (cached, longest gap)",
                "",
                "report",
                "–",
            )
        )
        found += _gapless_targets(name, figures["synthesised"])
    return found


def _gapless_targets(name: str, takes: list[dict[str, Any]]) -> list[Row]:
    """Issue 18's targets at the sink, the worst take against each (older results lack the figures)."""
    if not takes or any(take.get("late_s") is None for take in takes):
        return []
    extra = max(take["extra_silence_s"] for take in takes)
    late = max(take["late_s"] for take in takes)
    delays = ", ".join(f"{take['start_delay_s']:.2f}" for take in takes)
    return [
        (
            "18",
            f"extra silence inside the announcement at the sink, against the take, {name} (s)",
            f"{extra:.2f} (worst of {len(takes)})",
            "–",
            "",
            f"≤ {TARGET_EXTRA_SILENCE_S}",
            verdict(extra <= TARGET_EXTRA_SILENCE_S),
        ),
        (
            "18",
            f"first sound after the earliest gapless start, {name} (s; start delays {delays} s)",
            f"{late:.2f} (worst of {len(takes)})",
            "–",
            "",
            f"≤ {TARGET_LATE_S}",
            verdict(late <= TARGET_LATE_S),
        ),
    ]


def tables(results: dict[str, Any]) -> list[str]:
    """The equivalence and length-scaling tables."""
    lines: list[str] = []
    if results.get("equivalence"):
        lines += [
            (
                "Streamed against one whole-sentence HiFi-GAN decode of the same GPT latents (per sentence "
                "of the two-sentence text; chunks: first / later size in tokens):"
            ),
            "",
            "| model | sentence | chunks | speed | context (frames) | SNR (dB) | correlation | same length |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, figures in results["equivalence"].items():
            for row in figures["rows"] + figures["context_curve"]:
                lines.append(
                    f"| {name} | {row['sentence']} | {row['first']} / {row['size']} | {row['speed']} | "
                    f"{row['context']} | {row['snr_db']:.1f} | {row['correlation']:.9f} | "
                    f"{'yes' if row['same_length'] else 'no'} |"
                )
        lines.append("")
    for name, figures in results.get("scaling", {}).items():
        lines += [
            f"Length scaling ({name}): seconds per audio second of our streaming, by run:",
            "",
            "| variant | runs (s per audio s) | audio (s) |",
            "| --- | --- | --- |",
        ]
        for variant, runs in figures["runs"].items():
            values = ", ".join(f"{run['seconds'] / run['audio_s']:.2f}" for run in runs)
            lines.append(f"| {variant} | {values} | {med(runs, 'audio_s'):.2f} |")
        lines.append("")
    return lines
