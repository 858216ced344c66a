"""The ``voice-daemon`` command line.

Exit codes: 0 success; 1 the work failed (rejected or unreadable reference, model missing,
synthesis or device error); 2 usage errors (bad arguments, bad configuration, unknown voice,
unsupported language, empty or over-long text).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__, qualitycli
from .errors import ConfigError, RequestError, VoiceDaemonError

log = logging.getLogger("voice-daemon")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
Command = Callable[[argparse.Namespace], int]


def setup_logging(level: str = "INFO") -> None:
    """Plain lines on stderr; no timestamps under systemd, whose journal adds its own."""
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)
    for noisy in ("TTS", "trainer", "numba", "matplotlib", "urllib3", "httpx", "fsspec"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def _settings(args: argparse.Namespace):  # noqa: ANN202 - Settings, imported lazily for speed
    from .settings import load_settings

    settings = load_settings(args.config)
    setup_logging(args.log_level or settings.log.level)
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    from .app import Daemon

    return Daemon(_settings(args)).run()


def cmd_validate(args: argparse.Namespace) -> int:
    from .validation import validate_file

    verdicts = [validate_file(Path(name))[0] for name in args.files]
    if args.json:
        print(json.dumps([verdict.to_dict() for verdict in verdicts], indent=2))
    else:
        for verdict in verdicts:
            figures = ", ".join(f"{key}={value}" for key, value in verdict.measures.items())
            print(f"{verdict.status.upper():9} {verdict.path}" + (f"  [{figures}]" if figures else ""))
            for reason in verdict.problems + verdict.warnings:
                print(f"          - {reason}")
    return EXIT_OK if all(verdict.ok for verdict in verdicts) else EXIT_FAILED


def cmd_say(args: argparse.Namespace) -> int:
    from .api import VoiceCloning
    from .engine import SAMPLE_RATE
    from .text import normalize_language

    settings = _settings(args)
    language = normalize_language(args.language or settings.synthesis.language)
    cloning = VoiceCloning(settings)
    latents = cloning.voice_latents(args.voice or settings.synthesis.voice)
    play, out = args.play, args.out
    if not play and out is None:
        play = settings.output.mode in ("play", "both")
        if settings.output.mode in ("file", "both"):
            out = settings.paths.output / f"say-{time.strftime('%Y%m%d-%H%M%S')}.wav"
    speech = _say_render(cloning, args.text, latents, language, play, settings.output.device)
    if out is not None:
        from .audio import write_wav_atomic

        write_wav_atomic(Path(out), speech, SAMPLE_RATE)
        print(out)
    return EXIT_OK


def _say_render(cloning, text: str, latents, language: str, play: bool, device):  # noqa: ANN001, ANN202
    import numpy as np

    chunks: list = []
    stream = cloning.stream(text, latents, language)
    if play:
        from .sinks import Player

        player = Player(device)
        result = player.play(_keeping(stream, chunks))
        player.close()
        if result.error is not None:
            raise result.error
    else:
        chunks.extend(stream)
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def _keeping(stream, kept: list):  # noqa: ANN001, ANN202
    """Pass chunks through while keeping a copy of each."""
    for chunk in stream:
        kept.append(chunk)
        yield chunk


def cmd_voices(args: argparse.Namespace) -> int:
    from .latents import LatentsCache
    from .voices import VoiceRegistry

    settings = _settings(args)
    registry = VoiceRegistry(settings.paths.voices, LatentsCache(settings.paths.latents_cache))
    registry.scan()
    voices = registry.all()
    if args.json:
        print(json.dumps([voice.to_dict() for voice in voices], indent=2))
    for voice in [] if args.json else voices:
        print(f"{voice.name:24} {voice.status:9} {', '.join(path.name for path in voice.files)}")
        for reason in voice.problems + voice.warnings:
            print(f"{'':24} - {reason}")
    if not voices and not args.json:
        print(f"no voices in {settings.paths.voices}")
    return EXIT_OK


def cmd_batch(args: argparse.Namespace) -> int:
    from .api import VoiceCloning
    from .batch import run_batch
    from .text import normalize_language

    settings = _settings(args)
    cloning = VoiceCloning(settings)
    out_dir = args.out_dir or settings.paths.output / args.file.stem
    language = normalize_language(args.language or settings.synthesis.language)
    if not args.file.is_file():
        raise RequestError(f"batch file {args.file} does not exist")
    summary = run_batch(cloning, args.file, out_dir, args.voice or settings.synthesis.voice, language,
                        progress=not args.no_progress)  # fmt: skip
    print(summary.report())
    print(f"files in {out_dir}")
    return EXIT_OK if not summary.failures else EXIT_FAILED


def cmd_dev_model(args: argparse.Namespace) -> int:
    from .devmodel import build_checkpoint

    setup_logging(args.log_level or "INFO")
    build_checkpoint(Path(args.directory), args.size, max_audio_tokens=args.max_audio_tokens)
    print(args.directory)
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    import tempfile

    from .bench.run import run_bench
    from .devmodel import build_checkpoint

    setup_logging(args.log_level or "INFO")
    tiny = args.tiny or build_checkpoint(Path(tempfile.mkdtemp(prefix="voice-daemon-tiny-")), "tiny", 40)
    models = {"tiny": tiny}
    if args.full is not None:
        models["full"] = args.full
    run_bench(models, args.out, tuple(args.sections), args.repeats, args.threads, args.memory_requests)
    print(args.out / "benchmarks.md")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voice-daemon", description="Local voice-cloning speech service (XTTS v2)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon (what systemd starts)")
    run.set_defaults(func=cmd_run)

    validate = commands.add_parser("validate", help="check reference recordings")
    validate.add_argument("--json", action="store_true", help="machine-readable output")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(func=cmd_validate)

    say = commands.add_parser("say", help="speak one text (one-shot)")
    say.add_argument("text")
    say.add_argument("--voice", help="voice name in paths.voices, or a reference audio file")
    say.add_argument("--language", help="language code, e.g. en, de, zh-cn")
    say.add_argument("--out", type=Path, help="write a WAV file")
    say.add_argument("--play", action="store_true", help="play on the audio device")
    say.set_defaults(func=cmd_say)

    batch = commands.add_parser("batch", help="synthesise every request of a JSONL or CSV file")
    batch.add_argument("file", type=Path, help=".jsonl (one JSON request per line) or .csv (with a header)")
    batch.add_argument("--out-dir", type=Path, help="default: paths.output/<file name>")
    batch.add_argument("--voice", help="default voice: a name in paths.voices or a reference file")
    batch.add_argument("--language", help="default language")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    batch.set_defaults(func=cmd_batch)

    voices = commands.add_parser("voices", help="list voices and their status")
    voices.add_argument("--json", action="store_true")
    voices.set_defaults(func=cmd_voices)

    dev = commands.add_parser("dev-model", help="build a random-weight XTTS v2 model (tests, benchmarks)")
    dev.add_argument("directory")
    dev.add_argument("--size", choices=["tiny", "full"], default="tiny")
    dev.add_argument("--max-audio-tokens", type=int, default=605)
    dev.set_defaults(func=cmd_dev_model)
    qualitycli.register(commands)  # similarity, score, eval, tune

    from .bench import SECTIONS

    bench = commands.add_parser("bench", help="benchmark against stock coqui-tts (docs/benchmarks.md)")
    bench.add_argument("--full", type=Path, help="full-size model folder (voice-daemon dev-model DIR --size full)")
    bench.add_argument("--tiny", type=Path, help="tiny model folder (default: one built in a temporary folder)")
    bench.add_argument("--out", type=Path, default=Path("docs"), help="where benchmarks.json and .md go")
    bench.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    bench.add_argument("--repeats", type=int, default=3)
    bench.add_argument("--threads", type=int, default=1, help="model.threads of the daemon under test")
    bench.add_argument("--memory-requests", type=int, default=300)
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        setup_logging(args.log_level or "WARNING")
    try:
        return args.func(args)
    except (ConfigError, RequestError) as exc:
        print(f"voice-daemon: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except VoiceDaemonError as exc:
        print(f"voice-daemon: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
