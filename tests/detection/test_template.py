"""Templated text: items of one template that differ in what makes each distinct are not copies."""

from __future__ import annotations

from tests.builders import T0, Item, article, capture, hours, rss
from tests.conftest import make_pipeline
from tracker.detection.template import MAX_WORDS, differences, is_templated, name_words

ARTICLE = (
    "The price of firewood and coal in Kabul has risen by nearly a third since early December, traders say, "
    "as imports from neighbouring countries slow at the border crossings and lorries wait for days in the cold.\n"
    "A sack of coal that sold for twelve hundred afghanis a month ago now costs more than sixteen hundred, "
    "according to sellers in the Pul-e-Khishti market, and many families say they can heat only one room.\n"
    "Officials at the ministry of commerce said new shipments were expected within two weeks and asked "
    "traders not to hoard supplies, warning that shops found doing so could lose their licences."
)


def weather(town: str, high: int = 12) -> str:
    return (
        f"The weather service expects a mostly dry day in {town} with sunny spells in the afternoon and a light "
        f"breeze from the west, a high of {high} degrees and a low of about five degrees tonight, and a small "
        "chance of showers later in the week."
    )


def release(version: str, name: str, ordinal: str) -> str:
    return (
        f"NixOS {version} “{name}” has been released, the {ordinal} stable release branch. See the release notes "
        f"for details. You can get NixOS {version} ISOs and VirtualBox appliances from the download page. For "
        f"information on how to upgrade from older release branches to {version}, check out the manual section."
    )


def templated(a: str, b: str, title_a: str = "", title_b: str = "") -> bool:
    return is_templated(differences(a, b, title_a, title_b))


def test_bulletins_for_two_towns_are_templated_not_copies() -> None:
    assert templated(weather("Ashford"), weather("Kingsbury"), "Weather for Ashford", "Weather for Kingsbury")
    assert templated(weather("Ashford", 12), weather("Ashford", 14))


def test_release_notes_of_two_versions_are_templated() -> None:
    assert templated(release("18.09", "Jellyfish", "tenth"), release("18.03", "Impala", "ninth"),
                     "NixOS 18.09 released", "NixOS 18.03 released")


def test_earnings_lines_of_two_companies_are_templated() -> None:
    line = "{firm} said its third quarter results were as follows. Shr {a} cts vs {b} cts. Net {c} mln vs {d} mln."
    assert templated(line.format(firm="Alder Foods", a=10, b=7, c=1.2, d=0.9),
                     line.format(firm="Orion Mining", a=31, b=44, c=8.1, d=7.5))


def test_a_mirror_with_chrome_and_credit_is_a_copy() -> None:
    mirrored = "ru24.pro\nNews\n" + ARTICLE + "\nSource: Khaama Press"
    assert not templated(ARTICLE, mirrored, "Coal prices rise in Kabul", "Coal prices rise in Kabul")


def test_an_excerpt_with_a_link_to_the_full_story_is_a_copy() -> None:
    excerpt = ARTICLE.split("\n")[0] + "\nRead the full story at Khaama Press"
    assert not templated(excerpt, ARTICLE, "Coal prices rise in Kabul", "Coal prices rise in Kabul")


def test_a_rewrite_with_synonyms_and_a_new_title_is_a_copy() -> None:
    rewrite = (ARTICLE.replace("risen", "climbed").replace("traders say", "merchants report")
               .replace("slow", "dwindle").replace("expected", "due").replace("hoard", "stockpile"))
    assert not templated(ARTICLE, rewrite, "Coal prices rise in Kabul", "Kabul coal prices climb")


def test_a_long_copy_with_one_figure_updated_is_still_a_copy() -> None:
    story = "\n".join(article(7, paragraphs=5, words=60)) + " The toll rose to 12 on Monday."
    assert not templated(story, story.replace("to 12", "to 14"), "Floods in the valley", "Floods in the valley")
    # The same change in a bulletin-sized text is what a template does.
    short = "Floods cut the valley road. The toll rose to 12 on Monday."
    assert templated(short, short.replace("to 12", "to 14"))


def test_texts_too_long_to_align_are_left_to_verification() -> None:
    long_a = " ".join(f"word{n}" for n in range(MAX_WORDS + 1))
    assert differences(long_a, long_a.replace("word1 ", "word2 ")) is None
    assert not is_templated(None)


# -- in the pipeline ----------------------------------------------------------------------------
FEEDS = [{"url": f"https://w{n}.example/feed", "publisher": f"Weather {n}"} for n in range(3)]
TOWNS = ["Ashford", "Bramwick", "Carlbury", "Dunmouth", "Elmstead", "Fairley", "Glenport", "Hartdale"]


def bulletins(publisher: int, towns: list[str]) -> bytes:
    site = f"https://w{publisher}.example"
    items = [Item(f"Weather for {t}", f"{site}/{t.lower()}", [weather(t)], T0 + hours(n)) for n, t in enumerate(towns)]
    return rss(f"Weather {publisher}", site + "/", items)


def test_bulletins_of_one_template_from_several_publishers_are_not_copies_but_a_mirror_is(any_db_url: str) -> None:
    pipeline = make_pipeline(any_db_url, FEEDS)
    first = pipeline.ingest([capture(FEEDS[0]["url"], T0 + hours(9), bulletins(0, TOWNS[:4]))])
    second = pipeline.ingest([capture(FEEDS[1]["url"], T0 + hours(10), bulletins(1, TOWNS[4:]))])
    assert (first.new_items, second.new_items, first.republications + second.republications) == (4, 4, 0)
    # A third publisher copies one bulletin word for word: that is a copy, template or not.
    mirror = pipeline.ingest([capture(FEEDS[2]["url"], T0 + hours(11), bulletins(2, TOWNS[:1]))])
    assert (mirror.new_items, mirror.republications) == (1, 1)


def test_the_alignment_is_difflibs() -> None:
    """cydifflib stands in for difflib's SequenceMatcher: the same opcodes on texts of words
    with words swapped, inserted and cut, as a template filled in twice or a copy edited."""
    import difflib
    import random

    from cydifflib import SequenceMatcher

    rng = random.Random(7)
    vocabulary = [f"w{n}" for n in range(120)]
    for _ in range(400):
        a = [rng.choice(vocabulary) for _ in range(rng.randint(1, 300))]
        b = list(a)
        for _ in range(rng.randint(0, 12)):
            at = rng.randrange(len(b) + 1)
            kind = rng.random()
            if kind < 0.4:
                b[at : at + rng.randint(1, 3)] = rng.choices(vocabulary, k=rng.randint(1, 3))
            elif kind < 0.7:
                b.insert(at, rng.choice(vocabulary))
            else:
                del b[at : at + rng.randint(1, 5)]
        expected = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        assert [tuple(op) for op in SequenceMatcher(None, a, b, autojunk=False).get_opcodes()] == expected


def test_a_german_rewrite_swapping_nouns_is_no_template() -> None:
    """German writes every noun with a capital: nouns swapped for synonyms (Gesetz →
    Regelwerk) are a rewrite's edits, not a template's fields; a number still is one."""
    text = (
        "Die Bundesregierung hat am Dienstag ein neues Gesetz zur Förderung von Solaranlagen beschlossen. Nach Angaben "
        "des Ministeriums sollen Hausbesitzer künftig einen Zuschuss von bis zu 30 Prozent der Kosten erhalten. Die "
        "Opposition kritisierte das Vorhaben als unzureichend, da die Mittel nur für ein Jahr bereitgestellt würden. "
        "Verbände der Energiewirtschaft begrüßten dagegen die Entscheidung und forderten eine schnelle Umsetzung."
    )
    rewrite = text.replace("Gesetz", "Regelwerk").replace("Förderung", "Unterstützung").replace("Zuschuss", "Beitrag")
    assert not is_templated(differences(text, rewrite, "Solaranlagen", "Solaranlagen"))
    other_town = "Die Stadt Hamburg erwartet am Dienstag 30 Grad und Sonne. " * 3
    assert is_templated(differences(other_town, other_town.replace("30", "25"), "Wetter", "Wetter"))


def test_papers_named_after_their_towns_filling_one_bulletin_are_templated() -> None:
    """Leeds Live and York Press run one snow warning, each for its own town: the town is a
    template's field, though each is in its paper's name; a dateline's name said once is not."""
    def bulletin(town: str) -> str:
        return (f"A yellow warning for snow covers {town} from 6pm on Tuesday. Up to five centimetres could fall in {town} "
                f"overnight, and drivers in {town} should allow extra time. The council in {town} will grit the main routes.")

    names_a, names_b = name_words(["Leeds Live", "https://www.leedslive.example/rss"]), name_words(["York Press"])
    assert is_templated(differences(bulletin("Leeds"), bulletin("York"), "Snow warning", "Snow warning", names_a, names_b))
    dateline = "KABUL (Khaama Press) – " + bulletin("Kabul")
    khaama, ru24 = name_words(["Khaama Press", "https://www.khaama.com/feed/"]), name_words(["ru24.pro"])
    assert not is_templated(differences(dateline, dateline.replace("(Khaama Press)", "(ru24.pro)"), "Snow", "Snow", khaama, ru24))
