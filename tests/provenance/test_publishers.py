"""Which publisher a credit given by name alone means."""

from __future__ import annotations

import pytest

from tracker.provenance.publishers import Directory, name_fits_site


@pytest.mark.parametrize(("name", "host"), [
    ("Khaama Press", "www.khaama.com"),
    ("AFP", "www.afp.com"),
    ("Agence France-Presse", "afp.com"),
    ("The New York Times", "rss.nytimes.com"),
    ("BBC News", "feeds.bbci.co.uk"),
    ("Deutsche Welle", "rss.dw.com"),
    ("Associated Press", "apnews.com"),
    ("Der Spiegel", "www.spiegel.de"),
    ("Новая газета", "novayagazeta.ru"),  # another script than its host's: nothing to compare, taken
    ("Новая газета", "новаягазета.рф"),
    ("Bücher", "xn--bcher-kva.de"),
    ("AFP", "127.0.0.1"),  # an address says nothing of who publishes there
])
def test_a_name_fits_the_site_it_names(name: str, host: str) -> None:
    assert name_fits_site(name, host)


@pytest.mark.parametrize(("name", "host"), [
    ("AFP", "impostor.example.net"),
    ("AP", "evilapple.example"),  # a short name counts only at the start of the site's name
    ("Khaama Press", "press-news.example"),  # a common word alone ties nothing
    ("Daily News", "other.example"),
])
def test_a_name_does_not_fit_a_site_of_another_name(name: str, host: str) -> None:
    assert not name_fits_site(name, host)


def _directory() -> Directory:
    directory = Directory()
    directory.add_publisher(1, "AFP", "impostor.example.net", "feed_title")
    directory.add_feed(10, "https://impostor.example.net/rss", 1, "AFP", "https://impostor.example.net/")
    return directory


def test_a_credit_by_name_takes_no_feed_titled_so_on_a_site_of_another_name() -> None:
    assert _directory().publisher_credited("AFP") is None


def test_a_credit_by_name_finds_the_site_of_that_name_whatever_its_publisher_came_to_be_called() -> None:
    directory = _directory()
    directory.add_publisher(2, "AFP (afp.com)", "afp.com", "feed_title")
    directory.add_feed(20, "https://www.afp.com/en/rss", 2, "AFP", "https://www.afp.com/")
    assert directory.publisher_credited("afp") == 2


def test_a_credit_by_name_takes_a_publisher_the_config_names_wherever_it_is() -> None:
    directory = Directory()
    directory.add_publisher(3, "AFP", "cdn.example.net", "config")
    assert directory.publisher_credited("AFP") == 3
    directory.add_publisher(4, "AFP (afp.com)", "afp.com", "feed_title")
    directory.add_feed(40, "https://www.afp.com/en/rss", 4, "AFP", "https://www.afp.com/")
    assert directory.publisher_credited("AFP") == 3  # the operator's word first


def test_a_credit_by_name_that_two_sites_answer_means_neither() -> None:
    directory = Directory()
    for n, host in enumerate(["afp.com", "afp.fr"], start=1):
        directory.add_publisher(n, "AFP" if n == 1 else f"AFP ({host})", host, "feed_title")
        directory.add_feed(10 * n, f"https://www.{host}/rss", n, "AFP", f"https://www.{host}/")
    assert directory.publisher_credited("AFP") is None


def test_a_credit_by_name_with_or_without_a_leading_the_finds_the_publisher() -> None:
    """"Source: The Khaama Press" means Khaama Press; "Guardian" means The Guardian."""
    directory = Directory()
    directory.add_publisher(1, "Khaama Press", "khaama.com")
    directory.add_publisher(2, "The Guardian", "theguardian.com")
    assert directory.publisher_credited("the khaama press") == 1
    assert directory.publisher_credited("guardian") == 2
    assert directory.publisher_credited("the other press") is None
