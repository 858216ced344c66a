"""The private PulseAudio server and null-sink recorder live with the benchmarks; tests use them too."""

from voice_daemon.bench.pulse import RATE, SINK, PulseServer, Recorder, active_seconds

__all__ = ["RATE", "SINK", "PulseServer", "Recorder", "active_seconds"]
