"""A private PulseAudio server with a null sink, a recorder of what was played into it, and a probe
that notes when sound first reaches the sink (where a listener would hear it)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

SINK = "test"
RATE = 24_000
# parec recording the null sink's monitor as raw 16-bit mono, in 10 ms blocks
_RECORD = [
    "parec",
    "-d",
    f"{SINK}.monitor",
    "--format=s16le",
    f"--rate={RATE}",
    "--channels=1",
    "--raw",
    "--latency-msec=10",
]


class PulseServer:
    """``pulseaudio`` on a private socket under ``root``; the only sink is the null sink ``test``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "native"
        self.env = {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_RUNTIME_PATH": str(root)}

    def start(self) -> PulseServer:
        env = {**os.environ, **self.env, "HOME": str(self.root)}
        subprocess.run(
            [
                "pulseaudio",
                "-D",
                "-n",
                "--exit-idle-time=-1",
                "--log-target=stderr",
                f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
                f"--load=module-null-sink sink_name={SINK} rate={RATE}",
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("pulseaudio did not create its socket")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        subprocess.run(["pactl", "exit"], env={**os.environ, **self.env}, capture_output=True, timeout=10)

    def record(self, path: Path) -> Recorder:
        return Recorder(path, {**os.environ, **self.env})

    def probe(self) -> FirstSound:
        return FirstSound({**os.environ, **self.env})


class Recorder:
    """Records the null sink's monitor with ``parec`` into a raw 16-bit file, with arrival times."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self._process = subprocess.Popen(
            [*_RECORD, str(path)],
            env=env,
        )
        time.sleep(0.3)

    def stop(self) -> np.ndarray:
        """Stop recording; the samples as float32."""
        time.sleep(0.3)
        self._process.send_signal(signal.SIGINT)
        self._process.wait(timeout=10)
        return np.fromfile(self.path, dtype="<i2").astype(np.float32) / 32768


def active_seconds(samples: np.ndarray, threshold: float = 1e-3, frame: int = 240) -> float:
    """Seconds of the recording whose 10 ms frames carry sound above ``threshold`` RMS."""
    usable = len(samples) // frame * frame
    rms = np.sqrt(np.mean(samples[:usable].reshape(-1, frame) ** 2, axis=1))
    return float(np.count_nonzero(rms > threshold)) * frame / RATE


class FirstSound:
    """Reads the null sink's monitor continuously; :meth:`wait` returns when sound next arrives.

    ``parec`` delivers 10 ms blocks, so an arrival time is accurate to about 10 ms.
    """

    def __init__(self, env: dict[str, str], threshold: float = 1e-3) -> None:
        self.threshold = threshold
        self._armed_at: float | None = None
        self._heard = threading.Event()
        self._heard_at = 0.0
        self._process = subprocess.Popen(
            _RECORD,
            env=env,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.3)

    def arm(self) -> None:
        """Start waiting for the next sound (silence until then)."""
        self._heard.clear()
        self._armed_at = time.time()

    def wait(self, timeout: float) -> float | None:
        """Wall-clock time (``time.time()``) of the first sound since :meth:`arm`, or None."""
        return self._heard_at if self._heard.wait(timeout) else None

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)

    def _read(self) -> None:
        stream = self._process.stdout
        assert stream is not None
        while block := stream.read(480):
            now = time.time()
            if self._armed_at is None or self._heard.is_set():
                continue
            samples = np.frombuffer(block[: len(block) // 2 * 2], dtype="<i2").astype(np.float32) / 32768
            if samples.size and float(np.abs(samples).max()) > self.threshold:
                self._heard_at = now
                self._heard.set()
