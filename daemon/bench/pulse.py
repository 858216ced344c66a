"""A private PulseAudio server with a null sink, and a recorder of what was played into it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

SINK = "test"
RATE = 24_000


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
                "pulseaudio", "-D", "-n", "--exit-idle-time=-1", "--log-target=stderr",
                f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
                f"--load=module-null-sink sink_name={SINK} rate={RATE}",
            ],
            env=env, check=True, capture_output=True, timeout=30,
        )  # fmt: skip
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


class Recorder:
    """Records the null sink's monitor with ``parec`` into a raw 16-bit file, with arrival times."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self._process = subprocess.Popen(
            ["parec", "-d", f"{SINK}.monitor", "--format=s16le", f"--rate={RATE}", "--channels=1", "--raw",
             "--latency-msec=10", str(path)],
            env=env,
        )  # fmt: skip
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
