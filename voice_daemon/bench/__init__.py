"""Benchmarks: our paths against the stock coqui-tts paths on the same model (``voice-daemon bench``)."""

SECTIONS = (
    "coldstart",
    "synthesis",
    "latents",
    "first_audio",
    "memory",
    "http",
    "equivalence",
    "scaling",
    "gaps",
    "pipeline",
)
