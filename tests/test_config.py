"""The TOML configuration: defaults, a full file, and errors that name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker.config import (
    CONFIG_ENV,
    DATABASE_ENV,
    DEFAULT_DATABASE_URL,
    Config,
    load_config,
    parse_config,
)
from tracker.errors import ConfigError

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config" / "tracker.toml"

FULL = """\
[database]
url = "postgresql+psycopg://tracker@localhost/tracker"

[detection]
num_perm = 256
shingle_size = 4
lsh_bands = 32
lsh_rows = 8
min_jaccard = 0.6
min_containment = 0.85
rewrite_min_jaccard = 0.25
rewrite_min_containment = 0.5
min_shared_shingles = 10
boilerplate_min_items = 4
claim_tolerance_seconds = 600

[[feeds]]
url = "https://www.khaama.com/feed/"
publisher = "Khaama Press"

[[feeds]]
url = "https://ru24.pro/english/rss"
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No stray TRACKER_* variable or ./tracker.toml of the developer's may leak into these tests."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv(DATABASE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "tracker-test.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    config = load_config()
    assert config.path is None
    assert config.database.url == DEFAULT_DATABASE_URL
    assert config.feeds == []
    assert config.detection.num_perm == 128
    assert config.detection.shingle_size == 5
    assert config.detection.min_jaccard == 0.5


def test_full_file_loads(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    config = load_config(path)
    assert config.path == path
    assert config.database.url == "postgresql+psycopg://tracker@localhost/tracker"
    assert [(f.url, f.publisher) for f in config.feeds] == [
        ("https://www.khaama.com/feed/", "Khaama Press"),
        ("https://ru24.pro/english/rss", None),
    ]
    d = config.detection
    assert (d.num_perm, d.shingle_size, d.lsh_bands, d.lsh_rows) == (256, 4, 32, 8)
    assert (d.min_jaccard, d.min_containment) == (0.6, 0.85)
    assert (d.rewrite_min_jaccard, d.rewrite_min_containment) == (0.25, 0.5)
    assert (d.min_shared_shingles, d.boilerplate_min_items, d.claim_tolerance_seconds) == (10, 4, 600)


def test_partial_detection_table_keeps_other_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[detection]\nmin_jaccard = 0.7\n"))
    assert config.detection.min_jaccard == 0.7
    assert config.detection.num_perm == 128


def test_an_integer_is_accepted_for_a_fraction(tmp_path: Path) -> None:
    """`min_jaccard = 1` is how people write 1.0 in TOML."""
    assert load_config(write(tmp_path, "[detection]\nmin_jaccard = 1\n")).detection.min_jaccard == 1.0


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("[detection]\nmin_jacard = 0.5\n", "detection.min_jacard", "unknown key"),
        ("[databse]\nurl = 'sqlite://'\n", "databse", "unknown key"),
        ('[detection]\nnum_perm = "128"\n', "detection.num_perm", "integer"),
        ("[detection]\nnum_perm = 128.0\n", "detection.num_perm", "integer"),
        ("[database]\nurl = 5\n", "database.url", "string"),
        ("[detection]\nmin_jaccard = 1.5\n", "detection.min_jaccard", "less than or equal to 1"),
        ("[detection]\nmin_containment = 0\n", "detection.min_containment", "greater than 0"),
        ("[detection]\nclaim_tolerance_seconds = -1\n", "detection.claim_tolerance_seconds", "greater than or equal to 0"),
        ("[detection]\nnum_perm = 8\nlsh_bands = 4\n", "detection.num_perm", "greater than or equal to 16"),
        ('[[feeds]]\nurl = "ftp://example.com/rss"\n', "feeds.0.url", "pattern"),
        ('[[feeds]]\nurl = "https://example.com/rss"\npublisher = ""\n', "feeds.0.publisher", "at least 1 character"),
        ("[detection]\nlsh_bands = 64\nlsh_rows = 4\n", "detection", "exceeds num_perm"),
    ],
    ids=[
        "misspelt-key",
        "misspelt-table",
        "string-for-int",
        "float-for-int",
        "int-for-string",
        "above-range",
        "zero-fraction",
        "negative",
        "below-range",
        "bad-feed-url",
        "empty-publisher",
        "bands-exceed-perms",
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: ")
    assert words in message


def test_a_feed_listed_twice_is_refused(tmp_path: Path) -> None:
    text = FULL + '\n[[feeds]]\nurl = "https://www.khaama.com/feed/"\npublisher = "Khaama"\n'
    with pytest.raises(ConfigError, match=r"feeds\[2\]\.url 'https://www\.khaama\.com/feed/' is listed twice"):
        load_config(write(tmp_path, text))


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[detection\nmin_jaccard = 0.5\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[[feeds]]\nurl = "https://example.com/rss"\npublisher = "Münster"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_missing_explicit_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nowhere.toml")


def test_environment_variable_picks_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, FULL, "from-env.toml")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    config = load_config()
    assert config.path == path
    assert len(config.feeds) == 2


def test_explicit_path_beats_the_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(write(tmp_path, FULL, "from-env.toml")))
    explicit = write(tmp_path, "[detection]\nmin_jaccard = 0.9\n", "explicit.toml")
    config = load_config(explicit)
    assert config.path == explicit and config.feeds == []


def test_tracker_toml_in_the_working_directory_is_found(tmp_path: Path) -> None:
    write(tmp_path, FULL, "tracker.toml")  # tmp_path is the working directory here
    config = load_config()
    assert config.path is not None and config.path.name == "tracker.toml"
    assert len(config.feeds) == 2


def test_database_url_environment_variable_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATABASE_ENV, "sqlite:///elsewhere.sqlite3")
    assert load_config(write(tmp_path, FULL)).database.url == "sqlite:///elsewhere.sqlite3"
    assert load_config().database.url == "sqlite:///elsewhere.sqlite3"  # also over the default


def test_parse_config_validates_a_mapping() -> None:
    config = parse_config({"feeds": [{"url": "https://www.khaama.com/feed/", "publisher": "Khaama Press"}]})
    assert isinstance(config, Config)
    assert config.feeds[0].publisher == "Khaama Press"
    with pytest.raises(ConfigError, match=r"^feeds\.0\.url: "):
        parse_config({"feeds": [{"url": 7}]})


@pytest.mark.skipif(not REPO_CONFIG.is_file(), reason="no config/tracker.toml in this checkout")
def test_the_repository_config_loads() -> None:
    config = load_config(REPO_CONFIG)
    assert config.path == REPO_CONFIG


def test_http_endpoints_are_off_by_default_and_listen_takes_host_and_port() -> None:
    assert parse_config({}).http.address is None
    assert parse_config({"http": {"listen": "127.0.0.1:9180"}}).http.address == ("127.0.0.1", 9180)
    assert parse_config({"http": {"listen": "[::1]:9180"}}).http.address == ("::1", 9180)
    assert parse_config({"http": {"listen": "0.0.0.0:0"}}).http.address == ("0.0.0.0", 0)


@pytest.mark.parametrize("listen", ["9180", ":9180", "127.0.0.1", "127.0.0.1:99999", "::1:9180", "host:port"])
def test_a_bad_http_listen_address_is_refused_naming_the_key(listen: str) -> None:
    with pytest.raises(ConfigError, match=r"^http\.listen: .* is not HOST:PORT"):
        parse_config({"http": {"listen": listen}})
