"""Configuration: one pydantic-settings model read from a TOML file and ``VOICE_DAEMON_`` variables.

Precedence, highest first: environment variables (``VOICE_DAEMON_MODEL__DEVICE=cpu``), then the
TOML file, then the defaults below.  Every key is documented in ``config/voice-daemon.toml``.
Relative paths are resolved against ``paths.base``, which itself is resolved against the
directory of the TOML file (or the working directory when there is none).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from voice_daemon.errors import ConfigError, describe_problems
from voice_daemon.synthesis.text import normalize_language
from voice_daemon.synthesis.types import SamplingParams
from voice_daemon.voices.names import VoiceName

SYSTEM_CONFIG = Path("/etc/voice-daemon/config.toml")
SHIPPED_CONFIG = Path(__file__).resolve().parent.parent / "config" / "voice-daemon.toml"

OutputMode = Literal["play", "file", "both"]


class Section(BaseModel):
    """A configuration table: unknown keys are errors, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class ModelSettings(Section):
    path: Path = Path("var/model")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(0, ge=0)
    accept_license: bool = False
    warmup: bool = True
    preset: Literal["exact", "fast", "speculative"] = "exact"
    quantize_int8: bool = False

    @property
    def int8(self) -> bool:
        """Whether the GPT decoder runs in int8: the fast preset, or the older key that asks for it alone."""
        return self.preset == "fast" or self.quantize_int8

    def options(self) -> dict[str, Any]:
        """How to load the model, as ``synthesis.loader.load_engine`` takes it (all but the path)."""
        options = self.model_dump(exclude={"path", "preset", "quantize_int8"})
        return {**options, "quantize_int8": self.int8, "speculative": self.preset == "speculative"}


class PathSettings(Section):
    base: Path = Path(".")
    voices: Path = Path("voices")
    inbox: Path = Path("var/inbox")
    output: Path = Path("var/output")
    cache: Path = Path("var/cache")
    spool: Path = Path("var/spool")

    @property
    def latents_cache(self) -> Path:
        return self.cache / "latents"

    @property
    def audio_cache(self) -> Path:
        return self.cache / "audio"


class CacheSettings(Section):
    audio_enabled: bool = True
    audio_max_mb: float = Field(200, gt=0)


class SynthesisSettings(Section):
    voice: VoiceName = "default"
    language: str = "en"
    max_text_length: int = Field(5000, ge=1, le=100_000)
    normalize: bool = True  # speak figures, times, dates, units and money as words (synthesis/spoken.py)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        return normalize_language(value)


class OutputSettings(Section):
    mode: OutputMode = "play"
    device: str | int | None = None
    fallback_to_file: bool = True
    gapless: bool = True


class QueueSettings(Section):
    max_size: int = Field(100, ge=1, le=100_000)
    keep_finished_hours: float = Field(24, ge=0)
    interactive_max_size: int = Field(8, ge=1, le=1000)
    lookahead_seconds: float = Field(5, gt=0, le=600)


class InboxSettings(Section):
    enabled: bool = True
    settle_seconds: float = Field(0.5, ge=0, le=60)
    rescan_seconds: float = Field(30, gt=0)


class MqttSettings(Section):
    enabled: bool = False
    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    client_id: str = Field("", pattern=r"^[A-Za-z0-9._-]{0,64}$")
    topic_prefix: str = Field("voice", pattern=r"^[^#+$][^#+]*$")
    share_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$")
    keepalive: int = Field(60, ge=5, le=3600)
    session_expiry_hours: float = Field(24, ge=0)
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_verify: bool = True
    max_payload_bytes: int = Field(65536, ge=64, le=10_000_000)
    max_queued_events: int = Field(10000, ge=10, le=1_000_000)
    voice_topics: bool = True
    discovery: bool = True
    discovery_prefix: str = Field("homeassistant", pattern=r"^[^#+$][^#+]*$")
    hermes: bool = True
    hermes_site_ids: list[str] = ["default"]


class HttpSettings(Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_key: str | None = None
    api_key_file: Path | None = None
    max_body_bytes: int = Field(65536, ge=1024, le=10_000_000)
    max_text_length: int = Field(4096, ge=1, le=100_000)
    max_upload_mb: float = Field(20, gt=0, le=1000)
    max_upload_files: int = Field(10, ge=1, le=100)
    timeout_seconds: float = Field(60, gt=0, le=3600)


class WyomingSettings(Section):
    enabled: bool = False
    uri: str = Field("tcp://127.0.0.1:10200", pattern=r"^tcp://(\[[0-9A-Fa-f:.]+\]|[^:/\[\]]+):\d{1,5}$")
    zeroconf: bool = False
    max_connections: int = Field(64, ge=1, le=10_000)
    max_event_bytes: int = Field(65536, ge=1024, le=10_000_000)
    timeout_seconds: float = Field(60, gt=0, le=3600)
    keepalive_seconds: float = Field(2, gt=0, le=60)


class QualitySettings(Section):
    enabled: bool = False
    min_score: float = Field(0.5, ge=0, le=1)
    max_retries: int = Field(2, ge=0, le=10)
    ratings_db: Path | None = None  # None: paths.cache / "ratings.sqlite"
    eval_host: str = "127.0.0.1"
    eval_port: int = Field(8470, ge=0, le=65535)
    asr: bool = False
    asr_model: str = "tiny.en"  # a folder (has a "/"; relative to paths.base) or a faster-whisper name
    asr_download: bool = False
    max_word_error: float = Field(0.6, gt=0, le=10)

    @property
    def asr_model_is_folder(self) -> bool:
        return "/" in self.asr_model or self.asr_model.startswith(".")


class LogSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(BaseSettings):
    """All of voice-daemon's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="VOICE_DAEMON_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    model: ModelSettings = ModelSettings()
    paths: PathSettings = PathSettings()
    cache: CacheSettings = CacheSettings()
    synthesis: SynthesisSettings = SynthesisSettings()
    sampling: SamplingParams = SamplingParams()
    output: OutputSettings = OutputSettings()
    queue: QueueSettings = QueueSettings()
    inbox: InboxSettings = InboxSettings()
    mqtt: MqttSettings = MqttSettings()
    http: HttpSettings = HttpSettings()
    wyoming: WyomingSettings = WyomingSettings()
    quality: QualitySettings = QualitySettings()
    log: LogSettings = LogSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init arguments; the environment overrides it.
        return env_settings, init_settings

    def resolve(self, config_dir: Path) -> Settings:
        """Return a copy whose relative paths are absolute (see the module docstring)."""
        base = (config_dir / self.paths.base).resolve()
        paths = {name: base / value for name, value in self.paths.model_dump().items() if name != "base"}
        ratings_db = (
            base / self.quality.ratings_db if self.quality.ratings_db else paths["cache"] / "ratings.sqlite"
        )
        quality = self.quality
        asr_model = str(base / quality.asr_model) if quality.asr_model_is_folder else quality.asr_model
        return self.model_copy(
            update={
                "paths": self.paths.model_copy(update={"base": base, **paths}),
                "model": self.model.model_copy(update={"path": base / self.model.path}),
                "quality": quality.model_copy(update={"ratings_db": ratings_db, "asr_model": asr_model}),
            }
        )


def find_config_file(explicit: Path | None = None) -> Path | None:
    """The TOML file to read: ``--config``, ``$VOICE_DAEMON_CONFIG``, the system file, the shipped one."""
    if explicit is not None:
        return explicit
    if env := os.environ.get("VOICE_DAEMON_CONFIG"):
        return Path(env)
    for candidate in (SYSTEM_CONFIG, SHIPPED_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read, validate and resolve the configuration; raises ConfigError naming the bad key."""
    path = find_config_file(config_file)
    data = _read_toml(path) if path is not None else {}
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    return settings.resolve(path.parent if path is not None else Path.cwd())


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None


def _describe(exc: ValidationError, path: Path | None) -> str:
    source = f" (file {path}, or a VOICE_DAEMON_ variable)" if path else ""
    problems = describe_problems(exc, item="key", show_input=True)
    return "\n".join([f"invalid configuration{source}:", *(f"  {problem}" for problem in problems)])
