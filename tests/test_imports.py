"""The start-up measures of daemon.imports: they save work, change nothing, and leave nothing behind."""

from __future__ import annotations

import gc
import importlib.metadata
import subprocess
import sys
from pathlib import Path

from voice_daemon.synthesis.imports import collector_paused, coqui_imports

# Imports transformers and its model table in a fresh interpreter, with or without coqui_imports();
# prints how many folders transformers read and a digest of the table.
_TABLE = """
import hashlib, sys
from contextlib import nullcontext
from voice_daemon.synthesis.imports import UNUSED_IMPORTS, coqui_imports
for name in UNUSED_IMPORTS:
    sys.modules.setdefault(name, None)
with coqui_imports() if sys.argv[1] == "fast" else nullcontext():
    import transformers.models
from transformers.utils.import_utils import create_import_structure_from_path
table = transformers.models
listing = repr((sorted(table._class_to_module.items()), sorted(table._modules)))
print(create_import_structure_from_path.cache_info().misses, hashlib.sha256(listing.encode()).hexdigest())
"""

# Loads a model in a fresh interpreter; prints the share of model.pth mapped in memory before and
# after the warm-up (resident pages of its mappings, from /proc/self/smaps, over its size).
_RESIDENT = """
import sys
from pathlib import Path
from voice_daemon.synthesis.engine import Engine

checkpoint = Path(sys.argv[1]) / "model.pth"

def resident_share():
    total, inside = 0, False
    for line in open("/proc/self/smaps"):
        fields = line.split()
        if "-" in fields[0]:
            inside = fields[-1] == str(checkpoint)
        elif inside and fields[0] == "Rss:":
            total += int(fields[1]) * 1024
    return total / checkpoint.stat().st_size

engine = Engine.load(checkpoint.parent, "cpu")
before = resident_share()
engine.warm_up()
print(before, resident_share())
"""


def _run(script: str, *args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()


def test_transformers_reads_its_model_folders_once_and_builds_the_same_table() -> None:
    plain_reads, plain_table = _run(_TABLE, "plain")
    fast_reads, fast_table = _run(_TABLE, "fast")
    assert fast_table == plain_table
    assert int(plain_reads) > 700  # transformers 4.57 reads its ~400 model folders twice ...
    assert int(fast_reads) < int(plain_reads) * 0.6  # ... and once here


def test_coqui_imports_put_back_what_they_replace() -> None:
    from transformers.utils import import_utils

    scan, define = importlib.metadata.packages_distributions, import_utils.define_import_structure
    with coqui_imports():
        assert not gc.isenabled()
        assert importlib.metadata.packages_distributions() is importlib.metadata.packages_distributions()
        assert import_utils.define_import_structure is not define
    assert gc.isenabled()
    assert importlib.metadata.packages_distributions is scan
    assert import_utils.define_import_structure is define


def test_the_collector_stays_off_when_it_was_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_warm_up_maps_every_page_of_the_checkpoint(tiny_model: Path) -> None:
    before, after = map(float, _run(_RESIDENT, str(tiny_model)))
    assert before < 0.5  # loading maps the file but reads almost none of it
    assert after >= 0.99
