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

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "tracker.toml"

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
        ('[[feeds]]\nurl = "ftp://example.com/rss"\n', "feeds.0.url", "not a feed URL: not an http(s) URL"),
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


@pytest.mark.parametrize("text", [
    "[polling]\ntotal_timeout = inf\n", "[polling]\ntotal_timeout = 1e12\n", "[polling]\nread_timeout = nan\n",
    "[polling]\nmin_interval_seconds = 999999999999\nmax_interval_seconds = 999999999999\n"
    "default_interval_seconds = 999999999999\n",
    "[polling]\nerror_backoff_seconds = 999999999999\nmax_backoff_seconds = 999999999999\n",
    "[pages]\nrevisit_hours = inf\n", "[detection]\nclaim_tolerance_seconds = 999999999999\n",
    '[[alerts]]\nname = "a"\nfile = "a.jsonl"\nany = true\nretry_seconds = inf\nmax_retry_seconds = inf\n',
])
def test_spans_of_time_no_date_can_take_are_refused(tmp_path: Path, text: str) -> None:
    # They overflowed the dates they are added to: an internal error in the middle of a poll.
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="less than or equal to|greater than"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[feed]]\nurl = "https://a.example/rss"\n', "feed: unknown key; did you mean 'feeds'?"),
        ("[databse]\nurl = 'sqlite://'\n", "databse: unknown key; did you mean 'database'?"),
        ('[[feeds]]\nurl = "https://a.example/rss"\npubisher = "A"\n', "feeds.0.pubisher: unknown key; did you mean 'publisher'?"),
        ("[polling]\ndefault_interval = 60\n", "polling.default_interval: unknown key; did you mean 'default_interval_seconds'?"),
        ("[detection]\nfrobnicate = 1\n", "detection.frobnicate: unknown key"),
    ],
    ids=["table-list", "table", "key-in-list", "key", "nothing-close"],
)
def test_an_unknown_key_is_answered_with_the_closest_known_one(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: {message}"


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


@pytest.mark.parametrize("url, problem", [
    ("http://127.0.0.1:8080/feed", "127.0.0.1 is a loopback address"),
    ("http://localhost/rss", "localhost is a loopback name"),
    ("http://feeds.localhost/rss", "feeds.localhost is a loopback name"),
    ("http://[::1]:8080/feed", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]/feed", "loopback (as 127.0.0.1) address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("https://192.168.1.10/rss", "192.168.1.10 is a private address"),
    ("http://10.0.0.1/rss", "10.0.0.1 is a private address"),
    ("http://[fd00::5]/rss", "fd00::5 is a private address"),
    ("http://2130706433/rss", "2130706433 is a loopback address"),
])
def test_a_feed_on_a_local_address_needs_the_switch(tmp_path: Path, url: str, problem: str) -> None:
    text = f'[[feeds]]\nurl = "https://www.khaama.com/feed/"\n\n[[feeds]]\nurl = "{url}"\n'
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: feeds.1.url: {url!r}: ")
    assert problem in message and "[polling] allow_private_addresses = true" in message
    assert "\n" not in message
    allowed = load_config(write(tmp_path, text + "\n[polling]\nallow_private_addresses = true\n"))
    assert allowed.polling.allow_private_addresses and allowed.feeds[1].url == url


def test_private_addresses_are_refused_by_default_and_names_are_left_to_fetch_time(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL + '\n[[feeds]]\nurl = "http://93.184.215.14/rss"\n'
                                               '\n[[feeds]]\nurl = "http://intranet.example/rss"\n'))
    assert config.polling.allow_private_addresses is False
    assert [f.url for f in config.feeds][-2:] == ["http://93.184.215.14/rss", "http://intranet.example/rss"]
    with pytest.raises(ConfigError, match="polling.allow_private_addresses: Input should be a valid boolean"):
        load_config(write(tmp_path, '[polling]\nallow_private_addresses = "yes"\n'))
# -- paths -------------------------------------------------------------------------------------------------------
def test_a_relative_sqlite_path_in_a_file_is_relative_to_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_ENV, raising=False)
    folder = tmp_path / "etc"
    folder.mkdir()
    path = write(folder, '[database]\nurl = "sqlite:///data/tracker.sqlite3"\n\n[archive]\ndir = "warcs"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path)
    assert config.database.url == f"sqlite:///{folder / 'data' / 'tracker.sqlite3'}"
    assert config.archive.dir == str(folder / "warcs")
    # Given as a relative path from another folder, the file still anchors its paths.
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("etc") / path.name).database.url == f"sqlite:///{folder / 'data' / 'tracker.sqlite3'}"


@pytest.mark.parametrize(
    "url",
    ["sqlite:////var/lib/tracker.sqlite3", "sqlite://", "sqlite:///:memory:", "postgresql+psycopg://u@h/db"],
)
def test_absolute_and_non_file_urls_are_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.delenv(DATABASE_ENV, raising=False)
    assert load_config(write(tmp_path, f'[database]\nurl = "{url}"\n')).database.url == url


def test_without_a_config_file_the_default_database_is_under_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DATABASE_ENV, raising=False)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_config().database.url == DEFAULT_DATABASE_URL == "sqlite:///db/tracker.sqlite3"
    # And the environment's URL is the user's own, not re-anchored to any file.
    monkeypatch.setenv(DATABASE_ENV, "sqlite:///mine.sqlite3")
    assert load_config(write(tmp_path, '[database]\nurl = "sqlite:///x.sqlite3"\n')).database.url == "sqlite:///mine.sqlite3"


def test_the_example_config_points_at_the_repository_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_ENV, raising=False)
    config = load_config(REPO_CONFIG)
    assert config.database.url == f"sqlite:///{REPO_CONFIG.parents[1] / 'db' / 'tracker.sqlite3'}"


def test_status_section_is_validated(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "[status]\nmax_failing_share = 0.2\n")).status.max_failing_share == 0.2
    with pytest.raises(ConfigError, match="status.max_failing_share"):
        load_config(write(tmp_path, "[status]\nmax_failing_share = 1.5\n"))
# -- [[opml]] subscription lists -------------------------------------------------------------
OPML_FIXTURES = Path(__file__).parents[1] / "fixtures" / "opml"


def test_opml_path_is_relative_to_the_config_file_and_its_feeds_join_the_config(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "conf" / "subs").mkdir(parents=True)
    (tmp_path / "conf" / "subs" / "desk.opml").write_bytes((OPML_FIXTURES / "nested_v2.0.xml").read_bytes())
    config = tmp_path / "conf" / "tracker.toml"
    config.write_text('[[opml]]\npath = "subs/desk.opml"\n\n[[feeds]]\nurl = "https://ru24.pro/rss"\npublisher = "RU24"\ntags = ["Mine"]\n')
    monkeypatch.chdir(tmp_path)  # not the config's folder
    feeds = {f.url: f for f in load_config(config).feeds}
    assert set(feeds) == {"https://ru24.pro/rss", "https://www.khaama.com/feed/", "https://digest.example/feed.xml",
                          "https://unfiled.example/rss?x=1&y=2"}
    # In both: [[feeds]] names the publisher, the tags are merged, the OPML fills the title.
    assert feeds["https://ru24.pro/rss"].publisher == "RU24"
    assert feeds["https://ru24.pro/rss"].tags == ["Aggregators/Copies", "Mine", "News/Asia/Mirrors", "Watch"]
    assert feeds["https://ru24.pro/rss"].title == "ru24.pro — Кабул"
    assert feeds["https://www.khaama.com/feed/"].publisher == "Khaama Press"
    assert feeds["https://www.khaama.com/feed/"].site_url == "https://www.khaama.com/"
    assert feeds["https://digest.example/feed.xml"].publisher is None


def test_missing_opml_file_is_refused_naming_the_key_and_path(tmp_path: Path) -> None:
    config = tmp_path / "tracker.toml"
    config.write_text('[[opml]]\npath = "nowhere.opml"\n')
    with pytest.raises(ConfigError, match=r"opml\[0\]\.path: cannot read .*nowhere\.opml"):
        load_config(config)


def test_a_file_that_is_not_opml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "subs.opml").write_text("<html><body>sorry</body></html>")
    config = tmp_path / "tracker.toml"
    config.write_text('[[opml]]\npath = "subs.opml"\n')
    with pytest.raises(ConfigError, match=r"opml\[0\]\.path: .*not an OPML subscription list"):
        load_config(config).feeds  # noqa: B018  (read when its feeds are needed)


def test_an_opml_feed_that_is_not_http_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "subs.opml").write_text('<opml version="2.0"><body><outline text="x" xmlUrl="feed://x.example/rss"/></body></opml>')
    config = tmp_path / "tracker.toml"
    config.write_text('[[opml]]\npath = "subs.opml"\n')
    with pytest.raises(ConfigError, match=r"feed 'feed://x.example/rss'"):
        load_config(config).feeds  # noqa: B018


def test_unknown_opml_key_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "tracker.toml"
    config.write_text('[[opml]]\nfile = "subs.opml"\n')
    with pytest.raises(ConfigError, match=r"opml\.0\.(file|path)"):
        load_config(config)
def test_http_endpoints_are_off_by_default_and_listen_takes_host_and_port() -> None:
    assert parse_config({}).http.address is None
    assert parse_config({"http": {"listen": "127.0.0.1:9180"}}).http.address == ("127.0.0.1", 9180)
    assert parse_config({"http": {"listen": "[::1]:9180"}}).http.address == ("::1", 9180)
    assert parse_config({"http": {"listen": "0.0.0.0:0"}}).http.address == ("0.0.0.0", 0)


@pytest.mark.parametrize("listen", ["9180", ":9180", "127.0.0.1", "127.0.0.1:99999", "::1:9180", "host:port"])
def test_a_bad_http_listen_address_is_refused_naming_the_key(listen: str) -> None:
    with pytest.raises(ConfigError, match=r"^http\.listen: .* is not HOST:PORT"):
        parse_config({"http": {"listen": listen}})


def test_an_opml_path_that_is_no_regular_file_is_refused_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, '[[opml]]\npath = "/dev/zero"\n')
    with pytest.raises(ConfigError, match=r"opml\[0\]\.path: /dev/zero is not a regular file"):
        load_config(path)


def test_fetch_threads_are_read_under_their_first_name_too() -> None:
    """`[polling] workers` and `[pages] workers` (the keys' first names) still set the fetch threads."""
    from tracker.config import parse_config

    old = parse_config({"polling": {"workers": 3}, "pages": {"workers": 4}})
    new = parse_config({"polling": {"fetch_threads": 3}, "pages": {"fetch_threads": 4}})
    assert (old.polling.fetch_threads, old.pages.fetch_threads) == (new.polling.fetch_threads, new.pages.fetch_threads) == (3, 4)


def test_tags_are_folder_paths_that_feeds_export_writes_and_reads_back(tmp_path: Path) -> None:
    from tracker.config.opml import read_opml, write_opml
    from tracker.config.subscriptions import Subscription

    path = write(tmp_path, '[[feeds]]\nurl = "https://a.example/rss"\ntags = ["News//Asia ", "/Watch/", "Watch"]\n')
    feed = load_config(path).feeds[0]
    assert feed.tags == ["News/Asia", "Watch"]
    back = read_opml(write_opml([Subscription(feed.url, "A", tags=tuple(feed.tags))]))
    assert back[0].tags == ("News/Asia", "Watch")


@pytest.mark.parametrize(("tag", "message"), [
    ("x,y", "a tag cannot hold ','"),
    ("//", "a tag names at least one folder"),
])
def test_a_tag_opml_cannot_carry_is_refused_in_one_line(tmp_path: Path, tag: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(write(tmp_path, f'[[feeds]]\nurl = "https://a.example/rss"\ntags = ["{tag}"]\n'))
    assert "\n" not in str(caught.value) and repr(tag) in str(caught.value)
