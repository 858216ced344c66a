"""The quality commands of ``voice-daemon``: similarity, score, eval (listening tests) and tune."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voice_daemon.cli.common import EXIT_OK, settings_of
from voice_daemon.errors import ConfigError, RequestError

if TYPE_CHECKING:
    from voice_daemon.audio import Clip
    from voice_daemon.quality.asr import Hearing
    from voice_daemon.quality.ratings import RatingStore
    from voice_daemon.settings import QualitySettings, Settings


def register(commands: Any) -> None:
    """Add the quality subcommands to the ``voice-daemon`` parser's ``commands``."""
    similarity = commands.add_parser(
        "similarity", help="speaker similarity of two recordings (last line: cosine)"
    )
    similarity.add_argument("reference", type=Path, help="audio file of the voice")
    similarity.add_argument("candidate", type=Path, help="audio file to compare with it")
    similarity.add_argument(
        "--xtts", action="store_true", help="also ask XTTS's speaker encoder (loads the model)"
    )
    similarity.set_defaults(func=cmd_similarity)

    score = commands.add_parser("score", help="automatic quality score of a take against its voice")
    score.add_argument("audio", type=Path)
    score.add_argument("--voice", required=True, help="voice name in paths.voices, or a reference audio file")
    score.add_argument(
        "--text", help="the text the take should say (duration check; with faster-whisper, what it said)"
    )
    score.add_argument("--language", help="language of the text (default: synthesis.language)")
    score.add_argument("--json", action="store_true", help="machine-readable output")
    score.set_defaults(func=cmd_score)

    evaluate = commands.add_parser("eval", help="listening tests: serve the rating page, add takes, export")
    evaluate.add_argument("--db", type=Path, help="ratings database (default: quality.ratings_db)")
    evaluate.add_argument("--host", help="address to serve on (default: quality.eval_host, loopback)")
    evaluate.add_argument("--port", type=int, help="port (default: quality.eval_port; 0 picks a free one)")
    evaluate.add_argument(
        "--add", type=Path, nargs="+", metavar="WAV", help="add takes (with --voice and --text)"
    )
    evaluate.add_argument("--voice", help="voice of the takes being added")
    evaluate.add_argument("--text", help="text of the takes being added")
    evaluate.add_argument(
        "--export", type=Path, metavar="CSV", help="write ratings as CSV, a summary and a PNG plot"
    )
    evaluate.set_defaults(func=cmd_eval)

    tune = commands.add_parser("tune", help="find and store the best generation settings of a voice")
    tune.add_argument("voice", help="voice name in paths.voices")
    tune.add_argument("--text", action="append", help="text to speak (repeatable; default: two sentences)")
    tune.add_argument("--language", help="language of the texts (default: synthesis.language)")
    tune.add_argument("--candidates", type=int, default=8, help="settings to try, the current ones included")
    tune.add_argument("--seed", type=int, default=0, help="seed of the candidates and takes")
    tune.set_defaults(func=cmd_tune)


def cmd_similarity(args: argparse.Namespace) -> int:
    from voice_daemon.audio import decode
    from voice_daemon.quality.similarity import similarity, xtts_similarity

    reference, candidate = decode(args.reference), decode(args.candidate)
    print(f"reference: {args.reference} ({reference.seconds:.1f} s)")
    print(f"candidate: {args.candidate} ({candidate.seconds:.1f} s)")
    if args.xtts:
        from voice_daemon.api import VoiceCloning

        engine = VoiceCloning(settings_of(args)).engine
        print(f"XTTS speaker encoder (second opinion): {xtts_similarity(engine, [reference], candidate):.4f}")
    print("speaker similarity (Resemblyzer cosine; one speaker scores about 0.87, two about 0.52):")
    print(f"{similarity([reference], candidate):.4f}")
    return EXIT_OK


def cmd_score(args: argparse.Namespace) -> int:
    from voice_daemon.audio import decode
    from voice_daemon.quality.score import score_take
    from voice_daemon.quality.similarity import embed_voice
    from voice_daemon.synthesis.text import normalize_language

    settings = settings_of(args)
    reference = embed_voice(voice_clips(settings, args.voice))
    language = normalize_language(args.language or settings.synthesis.language)
    take = decode(args.audio)
    hearing = _hear(settings.quality, take, args.text, language) if args.text else None
    speed, max_word_error = settings.sampling.speed, settings.quality.max_word_error
    report = score_take(take, reference, args.text, language, speed, hearing, max_word_error)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return EXIT_OK
    for component in report.components:
        print(
            f"{component.name:11} {component.value:>9} {component.unit:9} score {component.score:.2f}"
            + (f"  {component.reason}" if component.reason else "")
        )
    if hearing is not None:
        print(f"transcript: {hearing.transcript}")
        print(f"word error rate: {hearing.word_error:.3f}")
    print(f"quality score of {args.audio} (0 to 1):")
    print(f"{report.score:.3f}")
    return EXIT_OK


def _hear(quality: QualitySettings, take: Clip, text: str, language: str) -> Hearing | None:
    """What the recogniser of ``quality.asr_model`` hears in ``take``; None (and a note) if it cannot."""
    from voice_daemon.quality.asr import Recognizer

    recognizer = Recognizer(quality.asr_model, quality.asr_download)
    if not recognizer.hears(language):
        print(f"no word check: the model {quality.asr_model} does not hear {language}", file=sys.stderr)
        return None
    try:
        return recognizer.hear(take, text, language)
    except ConfigError as exc:
        print(f"no word check: {exc}", file=sys.stderr)
        return None


def voice_clips(settings: Settings, name_or_file: str) -> list[Clip]:
    """The clips of a voice name in ``paths.voices`` (all usable ones), or of one reference file."""
    from voice_daemon.audio import decode
    from voice_daemon.voices.latents import LatentsCache
    from voice_daemon.voices.registry import VoiceRegistry

    if Path(name_or_file).is_file():
        return [decode(Path(name_or_file))]
    registry = VoiceRegistry(settings.paths.voices, LatentsCache(settings.paths.latents_cache))
    registry.scan()
    return [decode(path) for path in registry.get(name_or_file).usable]


def _ratings(settings: Settings, path: Path | None = None) -> RatingStore:
    """The ratings database ``path``, else ``quality.ratings_db`` (which loading the settings fills in)."""
    from voice_daemon.quality.ratings import RatingStore

    database = path or settings.quality.ratings_db
    if database is None:
        raise ConfigError("quality.ratings_db is not set")
    return RatingStore(database)


def cmd_eval(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    store = _ratings(settings, args.db)
    if args.add:
        return _add_takes(settings, store, args)
    if args.export:
        return _export(store, args.export)
    from voice_daemon.quality.listening import ListeningServer

    quality = settings.quality
    recognizer = None
    if quality.asr:
        from voice_daemon.quality.asr import Recognizer

        recognizer = Recognizer(quality.asr_model, quality.asr_download)
    server = ListeningServer(
        store,
        args.host or quality.eval_host,
        quality.eval_port if args.port is None else args.port,
        recognizer,
        settings.synthesis.language,
    )
    print(f"listening test on {server.url} (ratings in {store.path}); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    return EXIT_OK


def _add_takes(settings: Settings, store: RatingStore, args: argparse.Namespace) -> int:
    from voice_daemon.audio import decode
    from voice_daemon.quality.score import score_take
    from voice_daemon.quality.similarity import embed_voice

    if not args.voice or not args.text:
        raise RequestError("eval --add needs --voice (the takes' voice) and --text (what they say)")
    reference = embed_voice(voice_clips(settings, args.voice))
    name = Path(args.voice).stem
    for path in args.add:
        take = decode(path)
        score = score_take(take, reference, args.text, settings.synthesis.language).score
        print(f"{store.add_take(take, name, args.text, score=score)} {path} score {score:.3f}")
    return EXIT_OK


def _export(store: RatingStore, path: Path) -> int:
    from voice_daemon.quality.report import plot, summarise

    rows = store.export_csv(path)
    summaries = summarise(store)
    for summary in summaries:
        print(summary.line())
    print(f"{rows} rating(s) in {path}; plot in {plot(summaries, path.with_suffix('.png'))}")
    return EXIT_OK


def cmd_tune(args: argparse.Namespace) -> int:
    from voice_daemon.api import VoiceCloning
    from voice_daemon.quality.tuning import DEFAULT_TEXTS, Tuner, write_settings
    from voice_daemon.synthesis.text import normalize_language
    from voice_daemon.voices.registry import VoiceRegistry

    settings = settings_of(args)
    if args.candidates < 1:
        raise RequestError("--candidates must be at least 1")
    language = normalize_language(args.language or settings.synthesis.language)
    cloning = VoiceCloning(settings)
    check = VoiceRegistry(settings.paths.voices, cloning.cache)
    check.scan()
    check.get(args.voice)  # an unknown voice fails before the model is loaded
    registry = VoiceRegistry(settings.paths.voices, cloning.cache, cloning.engine)
    registry.refresh(args.voice)
    voice = registry.get(args.voice)
    texts = [cloning.spoken(text, language) for text in args.text or DEFAULT_TEXTS]
    tuner = Tuner(cloning.engine, registry, settings.sampling, _ratings(settings))
    results = tuner.run(voice, texts, language, args.candidates, args.seed)
    for result in results:
        human = "" if result.human is None else f" (human {result.human:.2f})"
        print(f"{result.combined:.3f}{human} {json.dumps(result.candidate.settings())}")
    print(f"best settings of voice {voice.name} written to:")
    print(write_settings(settings.paths.voices, voice, results, texts))
    return EXIT_OK
