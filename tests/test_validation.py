"""Reference-audio validation on the real corpus and on damaged copies of it."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.support.daemonproc import daemon_command
from voice_daemon.audio import resample
from voice_daemon.voices.validation import validate_file


def _load(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(str(path), dtype="float32")
    return samples, rate


def test_every_corpus_clip_of_5_s_or_more_passes(corpus: Path) -> None:
    checked = 0
    for path in sorted(corpus.glob("*/*.flac")):
        if sf.info(str(path)).duration >= 5:
            verdict, _ = validate_file(path)
            assert verdict.ok, verdict.summary()
            checked += 1
    assert checked >= 50


def test_every_corpus_clip_under_3_s_is_rejected_as_too_short(corpus: Path) -> None:
    short = [p for p in sorted(corpus.glob("*/*.flac")) if sf.info(str(p)).duration < 3]
    assert short, "the corpus should hold clips under 3 s"
    for path in short:
        verdict, _ = validate_file(path)
        assert not verdict.ok
        assert any("too short" in problem for problem in verdict.problems), verdict.summary()
        assert verdict.measures["speech_seconds"] < 3


def test_short_but_usable_clip_passes_with_a_warning(reference: Path, tmp_path: Path) -> None:
    samples, rate = _load(reference)
    path = tmp_path / "six.wav"
    sf.write(path, samples[: 6 * rate], rate)
    verdict, _ = validate_file(path)
    assert verdict.ok and verdict.status == "warning"
    assert "10 s or more" in verdict.warnings[0]


@pytest.mark.parametrize(
    ("fmt", "subtype", "suffix", "rate", "channels"),
    [
        ("WAV", "PCM_16", ".wav", 44100, 2),
        ("WAV", "FLOAT", ".wav", 48000, 1),
        ("FLAC", "PCM_24", ".flac", 22050, 1),
        ("OGG", "VORBIS", ".ogg", 48000, 2),
        ("MP3", "MPEG_LAYER_III", ".mp3", 44100, 2),
        ("MP3", "MPEG_LAYER_III", ".mp3", 16000, 1),
    ],
)
def test_common_formats_rates_and_channel_counts_pass(
    reference: Path, tmp_path: Path, fmt: str, subtype: str, suffix: str, rate: int, channels: int
) -> None:
    samples, source_rate = _load(reference)
    converted = resample(samples, source_rate, rate)
    data = np.stack([converted] * channels, axis=1) if channels == 2 else converted
    path = tmp_path / f"voice{suffix}"
    sf.write(path, data, rate, format=fmt, subtype=subtype)
    verdict, clip = validate_file(path)
    assert verdict.ok, verdict.summary()
    assert clip is not None and clip.channels == channels and clip.sample_rate == rate


def _problem(path: Path) -> str:
    verdict, _ = validate_file(path)
    assert not verdict.ok, verdict.summary()
    return "; ".join(verdict.problems)


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    assert "empty" in _problem(tmp_path / "empty.wav")


def test_undecodable_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "junk.mp3").write_bytes(b"this is not audio at all" * 100)
    assert "not a readable WAV, FLAC, OGG or MP3" in _problem(tmp_path / "junk.mp3")


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    assert "cannot read file" in _problem(tmp_path / "nothing.wav")


def test_silence_is_rejected(tmp_path: Path) -> None:
    sf.write(tmp_path / "silence.wav", np.zeros(16000 * 8, dtype=np.float32), 16000)
    assert "silent" in _problem(tmp_path / "silence.wav")


def test_noisy_recording_is_rejected_with_its_snr(reference: Path, tmp_path: Path) -> None:
    samples, rate = _load(reference)
    noise = np.random.default_rng(1).normal(0, np.sqrt(np.mean(samples**2) / 10 ** (5 / 10)), len(samples))
    sf.write(tmp_path / "noisy.wav", (samples + noise).astype(np.float32), rate, subtype="FLOAT")
    problem = _problem(tmp_path / "noisy.wav")
    assert "too noisy" in problem and "signal-to-noise ratio" in problem and " dB" in problem


def test_heavily_clipped_recording_is_rejected(reference: Path, tmp_path: Path) -> None:
    samples, rate = _load(reference)
    sf.write(tmp_path / "clipped.wav", np.clip(samples * 20, -1, 1), rate)
    problem = _problem(tmp_path / "clipped.wav")
    assert "heavily clipped" in problem and "%" in problem


def test_low_sample_rate_is_rejected(reference: Path, tmp_path: Path) -> None:
    samples, rate = _load(reference)
    sf.write(tmp_path / "phone.wav", resample(samples, rate, 8000), 8000)
    assert "sample rate 8000 Hz is below the minimum of 16000 Hz" in _problem(tmp_path / "phone.wav")


def test_non_finite_samples_are_rejected(reference: Path, tmp_path: Path) -> None:
    samples, rate = _load(reference)
    samples = samples.copy()
    samples[1000:1010] = np.nan
    sf.write(tmp_path / "nan.wav", samples, rate, subtype="FLOAT")
    assert "not finite" in _problem(tmp_path / "nan.wav")


def test_cli_exit_codes_and_json(reference: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"")
    ok = subprocess.run(daemon_command("validate", str(reference)), capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK")
    mixed = subprocess.run(
        daemon_command("validate", "--json", str(reference), str(bad)), capture_output=True, text=True
    )
    assert mixed.returncode == 1
    report = json.loads(mixed.stdout)
    assert [entry["status"] for entry in report] == ["ok", "rejected"]
    assert "empty" in report[1]["problems"][0]
    usage = subprocess.run(daemon_command("validate"), capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr


def test_a_long_reference_is_decoded_only_for_the_30_s_conditioning_uses(
    corpus: Path, tmp_path: Path
) -> None:
    clips = [_load(path) for path in sorted((corpus / "367").glob("*.flac"))]
    rate = clips[0][1]
    speech = np.concatenate([samples for samples, _ in clips])[: 70 * rate]
    path = tmp_path / "long.wav"
    sf.write(path, np.stack([speech, speech * 0.5], axis=1), rate)  # stereo: mixed down block by block
    verdict, clip = validate_file(path)
    assert verdict.ok and clip is not None
    assert clip.seconds == 30 and verdict.measures["file_seconds"] == 70
    assert np.allclose(clip.samples, speech[: 30 * rate] * 0.75, atol=1e-4)
    assert "only the first 30 s of 70 s are used" in verdict.warnings[-1]


def test_files_over_the_caps_are_refused_from_their_header(reference: Path, tmp_path: Path) -> None:
    from tests.support.hostile import lying_flac, sparse_wav

    cases = {
        sparse_wav(
            tmp_path / "huge.wav", 200 * 2**20
        ): "file is 200 MB, the maximum for a reference is 128 MB",
        sparse_wav(tmp_path / "long.wav", 60 * 2**20): "the header says 21.8 min of audio, the maximum",
        sparse_wav(
            tmp_path / "fast.wav", 2**20, rate=1_000_000
        ): "sample rate 1000000 Hz is above the maximum",
        lying_flac(reference, tmp_path / "liar.flac"): "the header says",
    }
    for path, reason in cases.items():
        verdict, clip = validate_file(path)
        assert clip is None and reason in verdict.problems[0], (path.name, verdict.problems)
