from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.core.errors import ConfigError
from app.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]


def test_defaults_need_no_environment() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.cors_origins == []


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert "PORT" in info.value.message
    assert "LOG_LEVEL" in info.value.message
    assert "'eighty'" in info.value.message
    assert info.value.details["variables"] == ["LOG_LEVEL", "PORT"]


def test_secret_values_are_not_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root:hunter2@db/x")
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert "DATABASE_URL" in info.value.message
    assert "hunter2" not in info.value.message


def test_port_out_of_range_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "70000")
    with pytest.raises(ConfigError, match="PORT"):
        load_settings(_env_file=None)


def test_lists_and_blank_urls_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example,")
    monkeypatch.setenv("REDIS_URL", "  ")
    settings = load_settings(_env_file=None)
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.redis_url is None


def _documented(path: Path, pattern: str) -> set[str]:
    return set(re.findall(pattern, path.read_text(), flags=re.MULTILINE))


def test_every_variable_is_documented_in_readme_and_env_example() -> None:
    names = {name.upper() for name in Settings.model_fields}
    readme = _documented(REPO / "README.md", r"^\| `([A-Z][A-Z0-9_]+)` \|")
    example = _documented(REPO / ".env.example", r"^#? ?([A-Z][A-Z0-9_]+)=")
    assert names - readme == set(), "add these to the README configuration table"
    assert names - example == set(), "add these to .env.example"
    assert readme - names == set(), "the README documents variables that Settings does not read"
    assert example - names == set(), ".env.example lists variables that Settings does not read"
