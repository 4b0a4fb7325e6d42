"""Paragraph counts: which paragraphs a publisher repeats (boilerplate), counted text by text."""

from __future__ import annotations

from tracker.store import evidence
from tracker.store.database import open_database


def test_a_paragraph_becomes_boilerplate_at_the_text_that_tips_it_and_names_its_earlier_holders(any_db_url: str) -> None:
    sessions = open_database(any_db_url)
    with sessions.begin() as session:
        counter = evidence.ParagraphCounter(session, 1, {10, 20, 30}, min_items=3)
        first = counter.count(1, {10, 20})
        counter.write(session)  # written halfway: the rest must still count on from it
        second = counter.count(2, {10})
        third = counter.count(3, {10, 30}, among={20})
        counter.write(session)
    assert first.keys == second.keys == frozenset() and first.boilerplate == frozenset()
    assert third.keys == {10} and third.holders == {1, 2} and third.boilerplate == {10}
    with sessions.begin() as session:
        again = evidence.ParagraphCounter(session, 1, {10, 20, 30}, min_items=3)
        fourth = again.count(4, {20})
        assert evidence.boilerplate_among(session, 1, [10, 20, 30], 3) == {10}
        assert evidence.boilerplate_among(session, 2, [10, 20, 30], 3) == set()
    assert fourth.keys == frozenset() and fourth.boilerplate == frozenset()


def test_keys_past_the_signed_range_are_counted_as_any_other(any_db_url: str) -> None:
    sessions = open_database(any_db_url)
    big = (1 << 64) - 5  # paragraph keys are unsigned 64-bit hashes
    with sessions.begin() as session:
        counter = evidence.ParagraphCounter(session, 1, {big}, min_items=2)
        counter.count(1, {big})
        counter.write(session)
    with sessions.begin() as session:
        tipped = evidence.ParagraphCounter(session, 1, {big}, min_items=2).count(2, {big})
    assert tipped.keys == {big} and tipped.holders == {1} and tipped.boilerplate == {big}


def test_a_story_posted_again_is_no_boilerplate_but_a_line_on_other_stories_is(any_db_url: str) -> None:
    sessions = open_database(any_db_url)
    story, disclaimer = {1, 2, 3, 4}, 99
    with sessions.begin() as session:
        counter = evidence.ParagraphCounter(session, 1, story | {disclaimer, 11, 12, 13, 21, 22, 23}, min_items=3)
        reposts = [counter.count(item, story) for item in (1, 2, 3, 4)]  # one story posted four times
        others = [counter.count(item, {disclaimer, 10 * n + 1, 10 * n + 2, 10 * n + 3}) for n, item in ((1, 5), (2, 6), (0, 7))]
        counter.write(session)
        assert evidence.boilerplate_among(session, 1, story | {disclaimer}, 3) == {disclaimer}
    assert all(not r.boilerplate for r in reposts)
    assert others[-1].keys == {disclaimer} and others[-1].holders == {5, 6}


def test_a_long_footer_under_short_posts_is_boilerplate(any_db_url: str) -> None:
    """Each post is one short paragraph over the same four-paragraph footer: most of each
    post is shared with every post before it, yet no post is another posted again."""
    sessions = open_database(any_db_url)
    footer = {91, 92, 93, 94}
    with sessions.begin() as session:
        counter = evidence.ParagraphCounter(session, 1, footer | {1, 2, 3}, min_items=3)
        fresh = [counter.count(item, footer | {item}) for item in (1, 2, 3)]
        counter.write(session)
    assert fresh[-1].keys == footer and fresh[-1].holders == {1, 2}
