from pathlib import Path

import pytest

from milkbot.settings import SettingsError, load_settings


def test_defaults_match_the_guide(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MILKBOT_DATABASE_URL", "MILKBOT_PORT", "MILKBOT_POOL_SIZE"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings()
    assert (s.pool_size, s.max_overflow, s.pool_timeout) == (20, 10, 30.0)
    # The public delay is each account's (an hour unless an operator says); a server adds none.
    assert (s.cache_ttl, s.public_delay_minutes) == (5.0, 0)
    assert (s.host, s.port) == ("127.0.0.1", 8501)
    assert s.database_url is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MILKBOT_PORT", "9000")
    monkeypatch.setenv("MILKBOT_HOME", str(tmp_path))
    s = load_settings()
    assert s.port == 9000
    assert s.home == tmp_path


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("MILKBOT_PORT", "eighty", "MILKBOT_PORT='eighty'"),
        ("MILKBOT_PORT", "70000", "MILKBOT_PORT='70000'"),
        ("MILKBOT_POOL_SIZE", "0", "MILKBOT_POOL_SIZE"),
        ("MILKBOT_DATABASE_URL", "mysql://x", "must be a PostgreSQL URL"),
        ("MILKBOT_LOG_LEVEL", "LOUD", "MILKBOT_LOG_LEVEL"),
        ("MILKBOT_LOG_FORMAT", "xml", "MILKBOT_LOG_FORMAT='xml': Input should be 'console' or"),
        ("MILKBOT_CACHE_TTL", "-1", "MILKBOT_CACHE_TTL"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert fragment in str(info.value)
