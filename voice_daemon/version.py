"""The package's version: a leaf module, so that reading it imports nothing else."""

__version__ = "0.1.0"  # the same as pyproject.toml's
