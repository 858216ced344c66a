"""Configuration: TOML file, VOICE_DAEMON_ variables, discovery order and error messages."""

from pathlib import Path

import pytest

from voice_daemon.errors import ConfigError
from voice_daemon.settings import SHIPPED_CONFIG, Settings, find_config_file, load_settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("VOICE_DAEMON_"):
            monkeypatch.delenv(key)


def test_the_shipped_file_documents_every_key_with_its_default() -> None:
    import tomllib

    shipped = tomllib.loads(SHIPPED_CONFIG.read_text())
    defaults = Settings().model_dump(mode="json")
    for section, values in defaults.items():
        assert section in shipped, f"[{section}] missing from {SHIPPED_CONFIG}"
        for key, value in values.items():
            text = SHIPPED_CONFIG.read_text()
            assert key in shipped[section] or f"# {key} =" in text, f"{section}.{key} undocumented"
            if key in shipped[section] and not (section == "paths" and key == "base"):
                assert shipped[section][key] == value, (
                    f"{section}.{key}: shipped value differs from the default"
                )


def test_shipped_config_resolves_paths_inside_the_repository() -> None:
    settings = load_settings(SHIPPED_CONFIG)
    assert settings.paths.base == REPO
    assert settings.paths.voices == REPO / "voices"
    assert settings.model.path == REPO / "var/model"


def test_toml_values_and_relative_paths(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "vd.toml"
    config.parent.mkdir()
    config.write_text(
        '[paths]\nbase = "../data"\ninbox = "drop"\n[output]\nmode = "file"\n[sampling]\ntemperature = 0.5\n'
    )
    settings = load_settings(config)
    assert settings.paths.inbox == tmp_path / "data" / "drop"
    assert settings.output.mode == "file"
    assert settings.sampling.temperature == 0.5


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "vd.toml"
    config.write_text('[model]\ndevice = "cuda"\n[output]\nmode = "file"\n')
    monkeypatch.setenv("VOICE_DAEMON_MODEL__DEVICE", "cpu")
    monkeypatch.setenv("VOICE_DAEMON_MODEL__PATH", str(tmp_path / "m"))
    settings = load_settings(config)
    assert settings.model.device == "cpu"
    assert settings.model.path == tmp_path / "m"
    assert settings.output.mode == "file"


def test_config_file_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, from_env = tmp_path / "a.toml", tmp_path / "b.toml"
    assert find_config_file(explicit) == explicit
    monkeypatch.setenv("VOICE_DAEMON_CONFIG", str(from_env))
    assert find_config_file(None) == from_env
    monkeypatch.delenv("VOICE_DAEMON_CONFIG")
    assert find_config_file(None) in (Path("/etc/voice-daemon/config.toml"), SHIPPED_CONFIG)


def test_voice_daemon_config_variable_is_not_mistaken_for_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "vd.toml"
    config.write_text('[output]\nmode = "both"\n')
    monkeypatch.setenv("VOICE_DAEMON_CONFIG", str(config))
    assert load_settings().output.mode == "both"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[model]\ndevice = "gpu"\n', ["model.device", "'gpu'", "'auto', 'cpu' or 'cuda'"]),
        ('[output]\nmode = "loud"\n', ["output.mode", "'loud'", "'play', 'file' or 'both'"]),
        ("[queue]\nmax_size = 0\n", ["queue.max_size", "0", "greater than or equal to 1"]),
        ('[synthesis]\nlanguage = "klingon"\n', ["synthesis.language", "'klingon'", "zh-cn"]),
        ('[synthesis]\nvoice = "../etc"\n', ["synthesis.voice", "'../etc'"]),
        ('[paths]\nvoice = "x"\n', ["unknown key 'paths.voice'"]),
    ],
)
def test_bad_values_name_key_value_and_what_is_allowed(
    tmp_path: Path, toml: str, expected: list[str]
) -> None:
    config = tmp_path / "vd.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    for fragment in expected:
        assert fragment in str(error.value)


def test_bad_environment_value_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICE_DAEMON_INBOX__SETTLE_SECONDS", "soon")
    with pytest.raises(ConfigError, match=r"inbox.settle_seconds = 'soon'"):
        load_settings(SHIPPED_CONFIG)


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "vd.toml"
    config.write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
