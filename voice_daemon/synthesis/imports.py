"""Importing coqui-tts and the libraries under it (torch, transformers) at the least cost.

Imports are most of a cold start: about 4.3 s of 5.2 s with the full-size model on a 2-core CPU.
Each measure here removes work that cannot change what gets imported, and each one only ever
speeds things up: where a library no longer looks the way it is described here, the measure does
nothing.  Figures are from that machine (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import gc
import importlib.metadata
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

# Optional packages that transformers and torch import when present, though inference never uses
# them (assisted-generation metrics, GPU kernel compilation): a second or more of every start-up.
UNUSED_IMPORTS = ("sklearn", "triton")


@contextmanager
def coqui_imports() -> Iterator[None]:
    """Import ``torch`` and ``transformers`` now, and make the imports of coqui-tts inside cheap."""
    if "transformers" not in sys.modules:  # it notes which packages exist when it is imported
        for name in UNUSED_IMPORTS:
            sys.modules.setdefault(name, None)  # type: ignore[arg-type] # None: "not installed"
    with ExitStack() as stack:
        stack.enter_context(collector_paused())
        stack.enter_context(_distributions_scanned_once())
        import torch  # noqa: F401 - first, as transformers and coqui-tts need it
        import transformers  # noqa: F401 - its own scan of transformers/models happens here

        stack.enter_context(_transformers_models_scanned_once())
        yield


@contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector off while imports and the model build allocate.

    They create some 350,000 long-lived objects; the collections they would trigger find next to
    nothing (about 11,000 objects) and cost about 0.4 s of the start-up.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _distributions_scanned_once() -> Iterator[None]:
    """Let coqui-tts's two scans of every installed package's metadata share one result.

    ``TTS`` and ``TTS.utils.import_utils`` each call ``importlib.metadata.packages_distributions()``
    on import (0.13 s each here); nothing can install a package in between.
    """
    with _replaced(importlib.metadata, "packages_distributions", functools.cache):
        yield


@contextmanager
def _transformers_models_scanned_once() -> Iterator[None]:
    """Keep transformers 4.x from reading all of its 1,400 model files a second time (0.35 s).

    ``import transformers`` builds the lazy import table of ``transformers/models`` from that
    folder; importing ``transformers.models`` builds it again from the folder's ``__init__.py``,
    which upstream documents as the same thing.  The folder's table is cached (``lru_cache``),
    but the file's path is another cache key, and the cache's 128 entries are too few to keep the
    folder's 400 subfolders between the two.  Passing the folder instead hits the cache.
    """
    try:
        from transformers.utils import import_utils
    except ImportError:  # transformers moved it: nothing to speed up
        yield
        return

    def by_folder(define: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(define)
        def define_import_structure(module_path: Any, *args: Any, **kwargs: Any) -> Any:
            if os.path.basename(module_path) == "__init__.py" and os.path.isfile(module_path):
                module_path = Path(module_path).parent
            return define(module_path, *args, **kwargs)

        return define_import_structure

    with _replaced(import_utils, "define_import_structure", by_folder):
        yield


@contextmanager
def _replaced(owner: object, name: str, wrap: Callable[[Any], Any]) -> Iterator[None]:
    """``owner.name`` wrapped by ``wrap`` inside the block, the original again after it."""
    original = getattr(owner, name, None)
    if original is None:
        yield
        return
    setattr(owner, name, wrap(original))
    try:
        yield
    finally:
        setattr(owner, name, original)
