"""``python -m voice_daemon`` runs the command line."""

import sys

from voice_daemon.cli import main

sys.exit(main())
