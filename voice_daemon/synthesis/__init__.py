"""Synthesis: the XTTS v2 engine, streaming, text splitting, the audio cache, model files and
loading, and the random-weight models for tests and benchmarks."""
