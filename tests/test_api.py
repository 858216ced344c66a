"""The Python API ``VoiceCloning.clone_voice``."""

from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import write_config
from voice_daemon.api import VoiceCloning
from voice_daemon.errors import ReferenceRejected, RequestError
from voice_daemon.settings import load_settings


@pytest.fixture
def cloning(home: Path, tiny_model: Path) -> VoiceCloning:
    return VoiceCloning(load_settings(write_config(home, tiny_model)))


def test_clone_voice_writes_a_file_and_returns_the_audio(
    cloning: VoiceCloning, reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "speech.wav"
    speech = cloning.clone_voice(
        text="The garage door is open.", reference_audio=str(reference), language="en", output_path=out
    )
    assert speech.path == out and speech.sample_rate == 24_000
    written, rate = sf.read(str(out), dtype="float32")
    assert rate == 24_000 and len(written) == len(speech.samples) > 0


def test_latents_are_cached_on_disk_across_instances(home: Path, tiny_model: Path, reference: Path) -> None:
    settings = load_settings(write_config(home, tiny_model))
    first = VoiceCloning(settings)
    first.clone_voice("One.", reference, "en")
    assert first.cache.hits == {"memory": 0, "disk": 0, "computed": 1}
    second = VoiceCloning(settings)
    second.clone_voice("Two.", [reference], "en")
    second.clone_voice("Three.", reference, "en")
    assert second.cache.hits == {"memory": 1, "disk": 1, "computed": 0}
    assert len(list((home / "cache" / "latents").glob("*.pt"))) == 1


def test_several_reference_clips(cloning: VoiceCloning, corpus: Path) -> None:
    clips = sorted((corpus / "2609").glob("*.flac"))[:3]
    assert len(cloning.clone_voice("Hello.", clips, "de").samples) > 0


def test_bad_reference_and_bad_language_raise_clear_errors(
    cloning: VoiceCloning, tmp_path: Path, reference: Path
) -> None:
    (tmp_path / "bad.wav").write_bytes(b"")
    with pytest.raises(ReferenceRejected, match="empty"):
        cloning.clone_voice("Hi.", tmp_path / "bad.wav", "en")
    with pytest.raises(RequestError, match="unsupported language 'xx'"):
        cloning.clone_voice("Hi.", reference, "xx")
    with pytest.raises(RequestError, match="text is empty"):
        cloning.clone_voice("   ", reference, "en")
