"""The issue 18 figures of ``docs/benchmarks.md``: the pipelined path and the fast preset against stock."""

from __future__ import annotations

from typing import Any

from voice_daemon.bench.figures import Row, med, per_audio_second, verdict

TARGETS = {"pipelined": 0.6, "fast": 0.35}  # per audio second, against stock Xtts.inference
LABELS = {
    "in_turn": "fp32, in turn (before the pipeline), faster thread setting",
    "pipelined": "fp32, pipelined (default)",
    "fast": "fast preset (int8 GPT), pipelined",
    "speculative": "speculative preset (fp32 distribution, int8 draft), pipelined",
}


def rows(results: dict[str, Any]) -> list[Row]:
    """Rows for the main table."""
    found: list[Row] = []
    for name, figures in results.get("pipeline", {}).items():
        found += _speed(name, figures["runs"])
        found += [_first_chunk(name, figures["runs"]), _memory(name, figures["runs"])]
        agreement = figures["logits"]
        logits = f"{agreement['top1_agreement']:.1%} / {agreement['cosine']:.4f}"
        figure = f"fast preset's teacher-forced logits vs fp32, {name}: top-1 agreement / cosine"
        found.append(("18", figure, logits, "fp32", "", "report", "–"))
    return found


def _speed(name: str, runs: dict[str, list[dict[str, float]]]) -> list[Row]:
    """Against the faster of stock's two thread settings (in turn: its faster one too); variants
    that the stored run did not measure are left out."""
    stock = _faster(runs, "stock")
    found: list[Row] = []
    for variant, label in LABELS.items():
        if variant not in runs:
            continue
        ours = _faster(runs, variant)
        target = TARGETS.get(variant)
        found.append(
            (
                "18",
                f"synthesis per audio second, {label}, {name} (s)",
                f"{ours:.2f}",
                f"{stock:.2f} (`Xtts.inference`, fp32, faster thread setting)",
                f"{ours / stock:.2f}x",
                f"≤ {target}x" if target else "report",
                verdict(ours / stock <= target) if target else "–",
            )
        )
    return found


def _faster(runs: dict[str, list[dict[str, float]]], variant: str) -> float:
    """Seconds per audio second of ``variant`` at the faster of its thread settings."""
    return min(per_audio_second(runs[key]) for key in (variant, f"{variant}_1_thread") if key in runs)


def _first_chunk(name: str, runs: dict[str, list[dict[str, float]]]) -> Row:
    first = med(runs["pipelined"], "first_chunk_s")
    before = min(med(runs[key], "first_chunk_s") for key in ("in_turn", "in_turn_1_thread") if key in runs)
    figure = f"first chunk, pipelined against in turn, {name} (s)"
    ratio = f"{first / before:.2f}x"
    return (
        "18",
        figure,
        f"{first:.2f}",
        f"{before:.2f} (ours in turn, faster setting)",
        ratio,
        "≤ 1.00x",
        verdict(first <= before),
    )


def _memory(name: str, runs: dict[str, list[dict[str, float]]]) -> Row:
    peak, before = (
        med([run["rss_mib"] + run["rss_growth_mib"] for run in runs[v]]) for v in ("pipelined", "in_turn")
    )
    figure = f"resident memory at its peak while synthesising, pipelined, {name} (MiB)"
    ratio = f"{peak / before:.2f}x"
    return (
        "18",
        figure,
        f"{peak:.0f}",
        f"{before:.0f} (ours in turn)",
        ratio,
        "≤ 1.10x",
        verdict(peak <= 1.1 * before),
    )


def tables(results: dict[str, Any]) -> list[str]:
    """Every run of the pipeline section, with the load average at its end."""
    lines: list[str] = []
    for name, figures in results.get("pipeline", {}).items():
        threads = figures["threads"]
        lines += [
            (
                f"Pipeline and fast preset ({name}, {figures['tokens']} tokens a run; pipelined: GPT on "
                f"{threads['gpt']} thread(s), decoder on {threads['decoder']}), by run in the order measured:"
            ),
            "",
            "| variant | s per audio s | first chunk (s) | RSS growth (MiB) | load average |",
            "| --- | --- | --- | --- | --- |",
        ]
        for variant, runs in figures["runs"].items():
            lines.append(f"| {variant} | {_column(runs)} |")
        lines.append("")
    return lines


def _column(runs: list[dict[str, float]]) -> str:
    per = ", ".join(f"{run['seconds'] / run['audio_s']:.2f}" for run in runs)
    first = ", ".join(f"{run['first_chunk_s']:.2f}" for run in runs if run.get("first_chunk_s"))
    growth = ", ".join(f"{run['rss_growth_mib']:.0f}" for run in runs)
    load = ", ".join(f"{run['load']:.1f}" for run in runs)
    return f"{per} | {first or '– (all at the end)'} | {growth} | {load}"
