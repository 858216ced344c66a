"""The benchmark report: verdicts against the targets, and the generated part of the document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voice_daemon.bench import gaps, pipereport, report


def _results(ours_start: float, first_audio: float, cached: float, last_rss: float) -> dict:
    return {
        "repeats": 1,
        "coldstart": {
            "full": {
                "ours": [{"seconds": ours_start, "rss_mib": 2900, "load_s": 1, "warm_up_s": 1}],
                "stock": [{"seconds": 20.0, "rss_mib": 2800}],
            }
        },
        "synthesis": {
            "full": {
                "runs": {
                    "stock_default_threads": [{"seconds": 10.0, "audio_s": 4.0, "tokens": 100}],
                    "stock_1_thread": [{"seconds": 12.0, "audio_s": 4.0, "tokens": 100}],
                    "ours_1_thread": [{"seconds": 8.0, "audio_s": 4.0, "first_chunk_s": 2.0}],
                },
                "logits": {"top1_agreement": 0.95, "cosine": 0.999, "relative_rms_error": 0.02},
            }
        },
        "first_audio": {
            "full": {
                "synthesised": [{"first_audio_s": first_audio, "pickup_s": 0.05}],
                "cached": [{"first_audio_s": cached, "pickup_s": 0.05}],
                "direct_first_chunk_s": [2.0],
                "stock_s": {"default_threads": [10.0], "1_thread": [12.0]},
            }
        },
        "latents": {
            "full": {"memory_hit_ms": [0.01], "disk_hit_ms": [2.0], "miss_ms": [900.0], "stock_ms": [1000.0]}
        },
        "memory": {"tiny": {"requests_rss_mib": [[0, 1000], [10, 1100], [300, last_rss]]}},
    }


def _verdicts(markdown: str) -> dict[str, str]:
    rows = [line.split(" | ") for line in markdown.splitlines() if line.startswith("| ") and " | " in line]
    return {row[1]: row[-1].rstrip(" |") for row in rows if len(row) == 7}


def test_targets_met_and_missed_are_told_apart() -> None:
    good = _verdicts(report.render(_results(4.0, 2.05, 0.02, 1120)))
    bad = _verdicts(report.render(_results(6.0, 2.6, 0.08, 1200)))
    overhead = next(key for key in good if key.startswith("daemon overhead"))  # 50 ms of 100 allowed; 600 ms
    for figure in (
        "cold start to READY=1, full model (s)",
        "repeated announcement (audio cache hit), first audio at the sink, full (ms)",
        "memory growth over 300 requests after the first 10, tiny",
        "time to first audio at the sink, two sentences, full (s)",
        overhead,
    ):
        assert good[figure] == "**yes**" and bad[figure] == "no", figure


def test_only_the_generated_part_of_the_document_is_replaced(tmp_path: Path) -> None:
    document = tmp_path / "benchmarks.md"
    document.write_text(f"# Title\n\nintro\n\n{report.BEGIN}\nold table\n{report.END}\n\n## Notes\nkept\n")
    report.write(_results(4.0, 2.0, 0.02, 1100), document)
    text = document.read_text()
    assert text.startswith("# Title\n\nintro\n") and text.endswith("## Notes\nkept\n")
    assert "old table" not in text and "cold start to READY=1" in text


def test_sections_rerun_apart_say_when_each_was_measured() -> None:
    results = _results(4.0, 2.0, 0.02, 1100)
    results.update(measured_at="2026-01-02 10:00", repeats=5, daemon_threads=0)
    together = "Measured 2026-01-02 10:00, medians of 5 repeats, the daemon with `model.threads = 0`"
    assert together in report.render(results)
    results["sections_measured"] = {
        "coldstart": ["2026-01-02 10:00", 5, 0],
        "synthesis": ["2026-01-01 09:00", 3, 1],
    }
    header = report.render(results).splitlines()[0]
    assert (
        "coldstart 2026-01-02 10:00 (5 repeats, `model.threads = 0`); "
        "synthesis 2026-01-01 09:00 (3 repeats, `model.threads = 1`)"
    ) in header


@pytest.mark.slow
def test_the_bench_command_runs_on_the_tiny_model(tiny_model: Path, tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "voice_daemon",
            "bench",
            "--tiny",
            str(tiny_model),
            "--out",
            str(tmp_path),
            "--sections",
            "latents",
            "memory",
            "--repeats",
            "1",
            "--memory-requests",
            "10",
        ],
        check=True,
        timeout=600,
    )
    results = json.loads((tmp_path / "benchmarks.json").read_text())
    assert results["memory"]["tiny"]["requests_rss_mib"][-1][0] == 10
    assert "voice latents, disk hit, tiny" in (tmp_path / "benchmarks.md").read_text()


def test_the_http_table_gives_the_overhead_over_the_daemons_first_chunk() -> None:
    from voice_daemon.bench import http

    made = {"first_byte_s": 1.05, "total_s": 8.0, "audio_s": 4.0, "worker_first_audio_s": 1.0}
    runs = {"wav": {"synthesised": [made], "cached": [{**made, "first_byte_s": 0.012}]}}
    assert (
        http.table({"http": {"full": {"runs": runs}}})[-1] == "| full | wav | 1.05 | 1.00 | 50 | 2.00 | 12 |"
    )


def _streaming_results(ours_s: float, long_s: float, first_audio: float) -> dict:
    run = {"seconds": 10.0, "audio_s": 4.0}
    stock = {**run, "tokens": 100}
    runs = {
        "stock_default_threads": [stock],
        "stock_1_thread": [stock],
        "ours_default_threads": [{**run, "seconds": ours_s, "first_chunk_s": 2.0}],
        "ours_1_thread": [{**run, "seconds": ours_s, "first_chunk_s": 2.0}],
    }
    scaling = {
        "short_default_threads": [run],
        "long_default_threads": [{"seconds": long_s * 4, "audio_s": 16.0}],
    }
    return {
        "synthesis": {
            "full": {"runs": runs, "logits": {"top1_agreement": 1, "cosine": 1, "relative_rms_error": 0}}
        },
        "scaling": {"full400": {"runs": scaling}},
        "first_audio": {
            "full": {
                "synthesised": [{"first_audio_s": first_audio, "pickup_s": 0.05}],
                "cached": [{"first_audio_s": 0.02, "pickup_s": 0.05}],
                "direct_first_chunk_s": [2.0],
                "stock_s": {"default_threads": [10.0], "1_thread": [12.0]},
            }
        },
        "gaps": {
            "tiny": {
                "synthesised": [{"between_sentences_s": 0.3, "within_sentences_s": 1.5, "gaps": []}],
                "cached": [{"gaps": [{"after_s": 1.0, "gap_s": 0.02}]}],
            }
        },
        "equivalence": {
            "tiny": {
                "rows": [
                    {
                        "sentence": 1,
                        "first": 8,
                        "size": 20,
                        "speed": 1.0,
                        "context": 13,
                        "snr_db": 125.0,
                        "correlation": 1.0,
                        "same_length": True,
                    }
                ],
                "context_curve": [],
            }
        },
    }


def test_the_streaming_targets_are_told_apart() -> None:
    good = _verdicts(report.render(_streaming_results(7.0, 11.0, 3.5)))  # 0.70x stock, 1.10x longer, 3.5 s
    bad = _verdicts(report.render(_streaming_results(9.0, 12.0, 4.0)))
    for figure in (
        "synthesis per audio second, fp32, default threads, full (s) (before: 1.47x)",
        "cost per audio second, 16 s piece against 4.5 s, default threads, full400 (s)",
        "time to first audio at the sink, two sentences, full, against before (s)",
    ):
        assert good[figure] == "**yes**" and bad[figure] == "no", figure
    text = report.render(_streaming_results(7.0, 11.0, 3.5))
    assert "| tiny | 1 | 8 / 20 | 1.0 | 13 | 125.0 | 1.000000000 | yes |" in text
    assert "300 ms / 1.50 s" in text


def _gapless_results(late_s: float, extra_s: float) -> dict:
    take = {"between_sentences_s": 0.3, "within_sentences_s": 0.0, "gaps": [], "start_delay_s": 12.5}
    timing = {"made_seconds": 20.0, "audio_seconds": 4.5, "start_delay_seconds": 12.5}
    take |= gaps.timeline(timing, 1000.0 + 15.5 + late_s, 1000.0) | {"extra_silence_s": extra_s}
    return {"gaps": {"full": {"synthesised": [take], "cached": [{"gaps": []}]}}}


def test_the_gapless_targets_at_the_sink_are_told_apart() -> None:
    """First sound against the earliest gapless start (synthesis end minus the take), extra silence."""
    good = _verdicts(report.render(_gapless_results(1.2, 0.1)))
    bad = _verdicts(report.render(_gapless_results(1.8, 0.3)))
    late = next(key for key in good if key.startswith("first sound after the earliest gapless start"))
    extra = "extra silence inside the announcement at the sink, against the take, full (s)"
    assert good[late] == good[extra] == "**yes**" and bad[late] == bad[extra] == "no"
    assert "start delays 12.50 s" in late
    assert gaps.timeline({"made_seconds": 2.0, "audio_seconds": 4.5}, 1000.3, 1000.0)["late_s"] == 0.3


def _pipeline_runs(*seconds: float, first: float | None = None) -> list[dict[str, float]]:
    extra = {"first_chunk_s": first} if first else {}
    common = {"audio_s": 2.0, "rss_mib": 1000.0, "rss_growth_mib": 50.0, "load": 5.0}
    return [{"seconds": value, **common, **extra} for value in seconds]


def test_the_pipeline_rows_compare_each_side_at_its_faster_thread_setting() -> None:
    runs = {
        "stock": _pipeline_runs(40.0),
        "stock_1_thread": _pipeline_runs(10.0),  # the faster: 5 s per audio s
        "in_turn": _pipeline_runs(30.0, first=3.0),
        "in_turn_1_thread": _pipeline_runs(10.0, first=1.0),
        "pipelined": _pipeline_runs(5.0, first=0.9),
        "fast": _pipeline_runs(4.0, first=0.8),
    }
    figures = {
        "tokens": 48,
        "threads": {"gpt": 1, "decoder": 1, "torch": 2},
        "logits": {"top1_agreement": 0.975, "cosine": 0.9997},
        "runs": runs,
    }
    results = {"pipeline": {"full": figures}}
    rows = {row[1]: row for row in pipereport.rows(results)}
    pipelined = rows["synthesis per audio second, fp32, pipelined (default), full (s)"]
    assert pipelined[4:] == ("0.50x", "≤ 0.6x", "**yes**")
    fast = rows["synthesis per audio second, fast preset (int8 GPT), pipelined, full (s)"]
    assert fast[4:] == ("0.40x", "≤ 0.35x", "no")
    assert rows["first chunk, pipelined against in turn, full (s)"][4] == "0.90x"  # against in turn's 1.0 s
    logits = rows["fast preset's teacher-forced logits vs fp32, full: top-1 agreement / cosine"]
    assert logits[2] == "97.5% / 0.9997"
    assert "| fast | 2.00 | 0.80 | 50 | 5.0 |" in pipereport.tables(results)
    assert not any("speculative" in name for name in rows)  # a stored run from before the preset
    runs["speculative"] = _pipeline_runs(4.5, first=0.85)
    rows = {row[1]: row for row in pipereport.rows(results)}
    label = (
        "synthesis per audio second, speculative preset (fp32 distribution, int8 draft), pipelined, full (s)"
    )
    assert rows[label][4:] == ("0.45x", "report", "–")


def test_the_turns_table_reports_medians_and_what_never_came() -> None:
    from voice_daemon.bench import turns

    def run(short: float | None, cancelled: float | None, peak: float) -> dict:
        first = {"first_audio_s": 1.0, "total_s": 2.0}
        stalled = {"short": {"first_audio_s": short}, "cancelled_after_s": cancelled, "peak_rss_mib": peak}
        served = {"alone": first, "short": {**first, "first_audio_s": 1.5}, "long": first}
        return {"load_1min": 4.0, "stalled": stalled, "served": {**served, "alone_peak_rss_mib": 1000.0}}

    after = [run(1.2, 64.0, 1040.0), run(1.4, 66.0, 1060.0), run(9.0, 70.0, 1050.0)]
    before = [run(None, None, 1300.0), run(None, None, 1250.0), run(40.0, None, 1200.0)]
    lines = turns.table({"bound_s": 60.0, "runs": {"after": after, "before": before}})
    assert lines[2] == "| after | 1.00 | 1.50 | 1.00 | 1.40 | 66.00 | 1050 (+5.0 %) | 4.0 |"
    assert lines[3] == (
        "| before | 1.00 | 1.50 | 1.00 | not served within 60 s | not cancelled within 60 s "
        "| 1250 (+25.0 %) | 4.0 |"
    )
    assert turns.median_or_none([2.0, 1.0]) == 1.5 and turns.median_or_none([1.0, None]) is None
