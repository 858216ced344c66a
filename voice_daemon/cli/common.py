"""What every ``voice-daemon`` command shares: exit codes, logging, reading the configuration."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voice_daemon.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def setup_logging(level: str = "INFO") -> None:
    """Plain lines on stderr; no timestamps under systemd, whose journal adds its own."""
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)
    for noisy in ("TTS", "trainer", "numba", "matplotlib", "urllib3", "httpx", "fsspec"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def settings_of(args: argparse.Namespace) -> Settings:
    """The configuration named by ``--config`` (or found), with logging set up as it says."""
    from voice_daemon.settings import load_settings

    settings = load_settings(args.config)
    setup_logging(args.log_level or settings.log.level)
    return settings
