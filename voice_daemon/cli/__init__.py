"""The ``voice-daemon`` command line.

Exit codes: 0 success; 1 the work failed (rejected or unreadable reference, model missing,
synthesis or device error); 2 usage errors (bad arguments, bad configuration, unknown voice,
unsupported language, empty or over-long text).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from voice_daemon.cli import quality as qualitycli
from voice_daemon.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, settings_of, setup_logging
from voice_daemon.errors import ConfigError, RequestError, VoiceDaemonError
from voice_daemon.version import __version__

if TYPE_CHECKING:
    from voice_daemon.api import VoiceCloning
    from voice_daemon.synthesis.types import Latents

log = logging.getLogger("voice-daemon")


def cmd_run(args: argparse.Namespace) -> int:
    from voice_daemon.app import Daemon

    return Daemon(settings_of(args)).run()


def cmd_validate(args: argparse.Namespace) -> int:
    from voice_daemon.voices.validation import validate_file

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
    from voice_daemon.api import VoiceCloning
    from voice_daemon.synthesis.text import normalize_language

    settings = settings_of(args)
    language = normalize_language(args.language or settings.synthesis.language)
    cloning = VoiceCloning(settings)
    latents = cloning.voice_latents(args.voice or settings.synthesis.voice)
    play, out = args.play, args.out
    if not play and out is None:
        play = settings.output.mode in ("play", "both")
        if settings.output.mode in ("file", "both"):
            out = settings.paths.output / f"say-{time.strftime('%Y%m%d-%H%M%S')}.wav"
    _say(cloning, args.text, latents, language, play, settings.output.device, out)
    if out is not None:
        print(out)
    return EXIT_OK


def _say(
    cloning: VoiceCloning,
    text: str,
    latents: Latents,
    language: str,
    play: bool,
    device: str | int | None,
    out: Path | None,
) -> None:
    """Play and/or save one utterance through the daemon's own delivery path."""
    from voice_daemon.sinks.outputs import deliver
    from voice_daemon.sinks.player import Player

    player = Player(device) if play else None
    try:
        deliver(cloning.stream(text, latents, language), player=player, save_to=out)
    finally:
        if player is not None:
            player.close()


def cmd_voices(args: argparse.Namespace) -> int:
    from voice_daemon.core.state import DefaultVoice
    from voice_daemon.voices.latents import LatentsCache
    from voice_daemon.voices.registry import VoiceRegistry

    settings = settings_of(args)
    registry = VoiceRegistry(settings.paths.voices, LatentsCache(settings.paths.latents_cache))
    registry.scan()
    voices = registry.all()
    default = DefaultVoice(settings.synthesis.voice, settings.paths.cache / "default_voice", registry)
    default.restore()
    if args.json:
        print(json.dumps([voice.to_dict() for voice in voices], indent=2))
        return EXIT_OK
    for voice in voices:
        print(f"{voice.name:24} {voice.status:9} {', '.join(path.name for path in voice.files)}")
        for reason in voice.problems + voice.warnings:
            print(f"{'':24} - {reason}")
    if not voices:
        print(f"no voices in {settings.paths.voices}")
    print(f"default voice: {default.note() or default.chosen}")
    return EXIT_OK


def cmd_batch(args: argparse.Namespace) -> int:
    from voice_daemon.api import VoiceCloning
    from voice_daemon.cli.batch import run_batch
    from voice_daemon.synthesis.text import normalize_language

    settings = settings_of(args)
    cloning = VoiceCloning(settings)
    out_dir = args.out_dir or settings.paths.output / args.file.stem
    language = normalize_language(args.language or settings.synthesis.language)
    if not args.file.is_file():
        raise RequestError(f"batch file {args.file} does not exist")
    summary = run_batch(
        cloning,
        args.file,
        out_dir,
        args.voice or settings.synthesis.voice,
        language,
        progress=not args.no_progress,
    )
    print(summary.report())
    print(f"files in {out_dir}")
    return EXIT_OK if not summary.failures else EXIT_FAILED


def cmd_normalize(args: argparse.Namespace) -> int:
    """Print what the model is fed for TEXT (or for each line of standard input): no model, no torch."""
    from voice_daemon.synthesis.spoken import speakable
    from voice_daemon.synthesis.text import normalize_language, split_text

    settings = settings_of(args)
    language = normalize_language(args.language or settings.synthesis.language)

    def fed(text: str) -> str:
        return " ".join(split_text(speakable(text, language, settings.synthesis.normalize), language))

    if args.text is not None:
        print(fed(args.text))
        return EXIT_OK
    for line in sys.stdin:
        print(fed(line.rstrip("\r\n")), flush=True)
    return EXIT_OK


def cmd_dev_model(args: argparse.Namespace) -> int:
    from voice_daemon.synthesis.devmodel import build_checkpoint

    setup_logging(args.log_level or "INFO")
    build_checkpoint(Path(args.directory), args.size, max_audio_tokens=args.max_audio_tokens)
    print(args.directory)
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    import tempfile

    from voice_daemon.bench.run import run_bench
    from voice_daemon.synthesis.devmodel import build_checkpoint

    setup_logging(args.log_level or "INFO")
    tiny = args.tiny or build_checkpoint(Path(tempfile.mkdtemp(prefix="voice-daemon-tiny-")), "tiny", 40)
    models = {"tiny": tiny}
    if args.full is not None:
        models["full"] = args.full
    if args.full_400 is not None:
        models["full400"] = args.full_400
    run_bench(models, args.out, tuple(args.sections), args.repeats, args.threads, args.memory_requests)
    print(args.out / "benchmarks.md")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voice-daemon", description="Local voice-cloning speech service (XTTS v2)"
    )
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

    normalize = commands.add_parser("normalize", help="print what the model is fed for a text")
    normalize.add_argument("text", nargs="?", help="the text (default: each line of standard input)")
    normalize.add_argument("--language", help="language code, e.g. en, de (default: synthesis.language)")
    normalize.set_defaults(func=cmd_normalize)

    voices = commands.add_parser("voices", help="list voices and their status")
    voices.add_argument("--json", action="store_true")
    voices.set_defaults(func=cmd_voices)

    dev = commands.add_parser("dev-model", help="build a random-weight XTTS v2 model (tests, benchmarks)")
    dev.add_argument("directory")
    dev.add_argument("--size", choices=["tiny", "full"], default="tiny")
    dev.add_argument("--max-audio-tokens", type=int, default=605)
    dev.set_defaults(func=cmd_dev_model)
    qualitycli.register(commands)  # similarity, score, eval, tune

    from voice_daemon.bench import SECTIONS

    bench = commands.add_parser("bench", help="benchmark against stock coqui-tts (docs/benchmarks.md)")
    bench.add_argument(
        "--full", type=Path, help="full-size model folder (voice-daemon dev-model DIR --size full)"
    )
    bench.add_argument(
        "--full-400",
        type=Path,
        help="full-size model of 400 tokens (--max-audio-tokens 400), for the scaling section",
    )
    bench.add_argument(
        "--tiny", type=Path, help="tiny model folder (default: one built in a temporary folder)"
    )
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
        code: int = args.func(args)  # one of the cmd_* functions
        return code
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
