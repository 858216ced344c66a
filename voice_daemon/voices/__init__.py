"""Voices: the registry of reference voices, reference-audio validation, and the latents cache."""
