"""Sinks: where speech goes (the speakers, WAV files in the output folder)."""
