"""Turning benchmark JSON into the Markdown tables of ``docs/benchmarks.md``.

Only the part between the ``bench`` markers is generated; the text around it is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voice_daemon.bench import pipereport, streamreport
from voice_daemon.bench.figures import Row, med, per_audio_second, verdict

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def write(results: dict[str, Any], path: Path) -> None:
    """Replace the generated part of ``path`` (or create it) with tables rendered from ``results``."""
    generated = f"{BEGIN}\n{render(results)}\n{END}"
    text = path.read_text(encoding="utf-8") if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(head + generated + tail, encoding="utf-8")


def render(results: dict[str, Any]) -> str:
    rows = [
        *_cold_start(results),
        *_first_audio(results),
        *_latents(results),
        *_speed(results),
        *_memory(results),
        *streamreport.rows(results),
        *pipereport.rows(results),
    ]
    table = [
        "| # | figure | ours | stock | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    table += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(
        [
            _machine(results),
            "",
            *table,
            "",
            *_speed_table(results),
            "",
            *streamreport.tables(results),
            *pipereport.tables(results),
            *_memory_table(results),
        ]
    )


def _machine(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    versions = ", ".join(f"{name} {v}" for name, v in m.get("versions", {}).items() if v)
    return (
        f"{_when(results)} on {m.get('cores')} cores ({m.get('cpu')}), {m.get('memory_gib')} GiB, "
        f"GPU: {m.get('gpu') or 'none'}; Python {m.get('python')}, {versions}."
    )


def _when(results: dict[str, Any]) -> str:
    """When the figures were measured, with how many repeats and the daemon's thread setting;
    section by section where sections were rerun apart."""
    measured = results.get("sections_measured", {})
    if len({tuple(when) for when in measured.values()}) <= 1:
        return (
            f"Measured {results.get('measured_at', '?')}, medians of {results.get('repeats')} repeats, "
            f"the daemon with `model.threads = {results.get('daemon_threads')}`,"
        )
    parts = [
        f"{section} {at} ({repeats} repeats, `model.threads = {threads}`)"
        for section, (at, repeats, threads) in measured.items()
    ]
    return "Medians, measured section by section (" + "; ".join(parts) + "),"


def _cold_start(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, runs in results.get("coldstart", {}).items():
        ours, stock = med(runs["ours"], "seconds"), med(runs["stock"], "seconds")
        ratio = ours / stock
        rows.append(
            (
                "1",
                f"cold start to READY=1, {name} model (s)",
                f"{ours:.2f}",
                f"{stock:.2f}",
                f"{ratio:.2f}x",
                "≤ 0.25x",
                verdict(ratio <= 0.25) if name == "full" else "–",
            )
        )
        rows.append(
            (
                "1",
                f"of which model load / warm-up, {name} (s)",
                f"{med(runs['ours'], 'load_s'):.2f} / {med(runs['ours'], 'warm_up_s'):.2f}",
                "–",
                "",
                "warm-up bounded",
                "–",
            )
        )
    return rows


def _first_audio(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, figures in results.get("first_audio", {}).items():
        ours = med(figures["synthesised"], "first_audio_s")
        stock = min(med(seconds) for seconds in figures["stock_s"].values())
        rows.append(
            (
                "2",
                f"time to first audio at the sink, two sentences, {name} (s)",
                f"{ours:.2f}",
                f"{stock:.2f} (`Xtts.inference`, faster thread setting)",
                f"{ours / stock:.2f}x",
                "≤ 0.25x",
                verdict(ours / stock <= 0.25),
            )
        )
        direct = med(figures["direct_first_chunk_s"])
        overhead, allowed = ours - direct, max(0.05 * direct, 0.010)
        rows.append(
            (
                "3",
                f"daemon overhead: request to first audio minus bare `inference_stream` first "
                f"chunk ({direct:.2f} s), {name} (ms)",
                f"{overhead * 1000:.0f}",
                "–",
                f"{overhead / direct * 100:.1f} %",
                f"≤ {allowed * 1000:.0f} ms",
                verdict(overhead <= allowed),
            )
        )
        cached = med(figures["cached"], "first_audio_s") * 1000
        rows.append(
            (
                "5",
                f"repeated announcement (audio cache hit), first audio at the sink, {name} (ms)",
                f"{cached:.0f}",
                f"{stock * 1000:.0f} (synthesised again)",
                f"{cached / 1000 / stock:.4f}x",
                "≤ 50 ms",
                verdict(cached <= 50),
            )
        )
        rows.append(
            (
                "–",
                f"drop-folder pick-up before the request enters, {name} (ms)",
                f"{med(figures['synthesised'] + figures['cached'], 'pickup_s') * 1000:.0f}",
                "–",
                "",
                "",
                "–",
            )
        )
    return rows


def _latents(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, times in results.get("latents", {}).items():
        stock = med(times["stock_ms"])
        for key, label, bound in (("memory_hit_ms", "memory hit", 1), ("disk_hit_ms", "disk hit", 10)):
            value = med(times[key])
            rows.append(
                (
                    "4",
                    f"voice latents, {label}, {name} (ms)",
                    f"{value:.3f}",
                    f"{stock:.0f} (computed)",
                    f"{value / stock:.4f}x",
                    f"< {bound} ms",
                    verdict(value < bound),
                )
            )
        miss = med(times["miss_ms"])
        rows.append(
            (
                "4",
                f"voice latents, miss (computed), {name} (ms)",
                f"{miss:.0f}",
                f"{stock:.0f}",
                f"{miss / stock:.2f}x",
                "report",
                "–",
            )
        )
    return rows


def _speed(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, speed in results.get("synthesis", {}).items():
        runs = speed["runs"]
        stock = per_audio_second(runs["stock_default_threads"])
        best = min((k for k in runs if k.startswith("ours")), key=lambda k: per_audio_second(runs[k]))
        ours = per_audio_second(runs[best])
        same = per_audio_second(runs["stock_1_thread"])
        rows.append(
            (
                "6",
                f"CPU synthesis, best setting ({best.removeprefix('ours_')}), {name} (s per audio s)",
                f"{ours:.2f}",
                f"{stock:.2f} (default threads) / {same:.2f} (1 thread)",
                f"{stock / ours:.2f}x / {same / ours:.2f}x faster",
                "report",
                "–",
            )
        )
        logits = speed["logits"]
        rows.append(
            (
                "6",
                f"int8 decoder logits vs fp32, {name}: top-1 agreement / cosine / relative RMS error",
                f"{logits['top1_agreement'] * 100:.1f} % / {logits['cosine']:.4f} / "
                f"{logits['relative_rms_error'] * 100:.1f} %",
                "fp32",
                "",
                "report",
                "–",
            )
        )
    return rows


def _speed_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "Synthesis speed (whole announcement, CPU). Stock runs `Xtts.inference` on the two-sentence text; "
        "ours streams the one-sentence text (sentence splitting plus `inference_stream`); per token = "
        "seconds / generated GPT tokens.",
        "",
        "| model | variant | s per audio s | ms per token | first chunk (s) | speed-up vs stock |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, speed in results.get("synthesis", {}).items():
        runs = speed["runs"]
        stock = per_audio_second(runs["stock_default_threads"])
        samples_per_token = med([r["audio_s"] / r["tokens"] for r in runs["stock_default_threads"]])
        for variant, values in runs.items():
            per_s = per_audio_second(values)
            first = med(values, "first_chunk_s") if "first_chunk_s" in values[0] else float("nan")
            first_chunk = f"{first:.2f}" if first == first else "– (all at the end)"
            lines.append(
                f"| {name} | {variant} | {per_s:.2f} | {per_s * samples_per_token * 1000:.0f} | "
                f"{first_chunk} | {stock / per_s:.2f}x |"
            )
    return lines


def _memory(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, runs in results.get("coldstart", {}).items():
        rows.append(
            (
                "7",
                f"resident memory after start-up, {name} (MiB)",
                f"{med(runs['ours'], 'rss_mib'):.0f}",
                f"{med(runs['stock'], 'rss_mib'):.0f}",
                "",
                "report",
                "–",
            )
        )
    for name, figures in results.get("memory", {}).items():
        curve = figures["requests_rss_mib"]
        base, last = curve[1][1], curve[-1][1]
        growth = (last - base) / base * 100
        rows.append(
            (
                "7",
                f"memory growth over {curve[-1][0]} requests after the first {curve[1][0]}, {name}",
                f"{growth:+.1f} % ({base:.0f} → {last:.0f} MiB)",
                "–",
                "",
                "≤ 5 %",
                verdict(growth <= 5),
            )
        )
    return rows


def _memory_table(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, figures in results.get("memory", {}).items():
        curve = figures["requests_rss_mib"]
        step = max(1, len(curve) // 10)
        lines += [
            f"Resident memory of the daemon ({name} model) by requests served:",
            "",
            "| requests | " + " | ".join(str(n) for n, _ in curve[::step]) + " |",
            "| --- |" + " --- |" * len(curve[::step]),
            "| RSS (MiB) | " + " | ".join(f"{rss:.0f}" for _, rss in curve[::step]) + " |",
        ]
    return lines
