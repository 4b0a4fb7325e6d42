"""Questions about what was found: `tracker origin`, `stats`, `stories`, `copies`, `publishers`, `find`."""

from __future__ import annotations

import click

from tracker.answers.output import FORMATS
from tracker.cli.base import COUNT, LIMIT, emit, format_option, main, parse_since, read_sessions
from tracker.terminal import echo


@main.command()
@click.argument("url")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table: the tree for people; json/csv: every item of the story (item_provenance rows with evidence, "
                   "plus depth, in_chain, queried), depth first.")
@click.pass_context
def origin(ctx: click.Context, url: str, fmt: str) -> None:
    """Print an article's original, its chain back to it, and the whole story tree.

    Read-only: a database that does not exist yet is an error, never created.

    \b
    Examples:
      tracker --config samples/tracker.toml origin https://mirror-of-mirrors.example/p/7100/
      tracker origin --format json https://mirror-of-mirrors.example/p/7100/ | jq 'select(.in_chain)'
    """
    sessions = read_sessions(ctx)
    if fmt == "table":
        from tracker.answers.summaries import origin_report

        echo(origin_report(sessions, url))
        return
    from tracker.answers.output import csv_text, json_lines
    from tracker.answers.questions import ORIGIN_KEYS, origin_rows

    rows = origin_rows(sessions, url)
    click.echo(json_lines(rows) if fmt == "json" else csv_text(rows, ORIGIN_KEYS), nl=fmt == "json")


@main.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for people (with totals); json (one object per publisher per line) or csv for programs.")
@click.pass_context
def stats(ctx: click.Context, fmt: str) -> None:
    """Print counts per publisher: items, originals, copies made, copied by others.

    Read-only: a database that does not exist yet is an error, never created.

    \b
    Examples:
      tracker --config config/tracker.toml stats
      tracker stats --format csv > publishers.csv
    """
    sessions = read_sessions(ctx)
    if fmt == "table":
        from tracker.answers.summaries import stats_report

        echo(stats_report(sessions))
        return
    from tracker.answers.output import csv_text, json_lines
    from tracker.answers.questions import STATS_KEYS, stats_rows

    rows = stats_rows(sessions)
    text = json_lines(rows) if fmt == "json" else csv_text(rows, STATS_KEYS)
    if text:
        click.echo(text, nl=fmt == "json")


@main.command()
@click.option("--publisher", help="Only stories whose original is this publisher's.")
@click.option("--since", help="Only stories published since (ISO 8601, or 24h, 7d, …).")
@click.option("--until", help="Only stories published before (ISO 8601, or 24h, 7d, …).")
@click.option("--min-copies", type=COUNT, default=0, show_default=True, help="Only stories copied at least this often.")
@click.option("--limit", type=LIMIT, help="At most this many stories (newest first).")
@format_option
@click.pass_context
def stories(ctx: click.Context, publisher: str | None, since: str | None, until: str | None, min_copies: int,
            limit: int | None, fmt: str) -> None:
    """List stories (rows of the `stories` view), newest first.

    \b
    Examples:
      tracker stories --min-copies 2 --since 7d
      tracker stories --publisher "Khaama Press" --format csv > khaama.csv
    """
    from tracker.answers.output import render
    from tracker.answers.questions import STORY_TABLE, story_list
    from tracker.store.views import STORY_COLUMNS

    start, end = parse_since(since), parse_since(until, "--until")  # a bad time is refused before the database is opened
    rows = story_list(read_sessions(ctx), publisher=publisher, since=start, until=end, min_copies=min_copies, limit=limit)
    emit(render(rows, fmt, STORY_TABLE, STORY_COLUMNS, empty="no stories"), fmt)


@main.command()
@click.argument("publisher")
@click.option("--since", help="Only copies published since (ISO 8601, or 24h, 7d, …).")
@format_option
@click.pass_context
def copies(ctx: click.Context, publisher: str, since: str | None, fmt: str) -> None:
    """Who republishes PUBLISHER's stories: how many copies, how fast, how much.

    Copies at any depth count (a copy of a mirror of PUBLISHER too; "direct" are copied
    from PUBLISHER itself). Delays are from PUBLISHER's original to the copy: the median
    and the 90th percentile. Containment: the share of the copy found in its parent.

    \b
    Example:
      tracker copies "Khaama Press" --since 30d
    """
    from tracker.answers.output import render
    from tracker.answers.questions import COPIES_KEYS, COPIES_TABLE, copies_of

    rows = copies_of(read_sessions(ctx), publisher, parse_since(since))
    emit(render(rows, fmt, COPIES_TABLE, COPIES_KEYS, empty=f"nobody republishes {publisher}"), fmt)


@main.command()
@click.option("--since", help="Only copies published since (ISO 8601, or 24h, 7d, …).")
@format_option
@click.pass_context
def publishers(ctx: click.Context, since: str | None, fmt: str) -> None:
    """Who copies whom: one row per (copier, source) pair, source being the publisher copied from.

    Copies; median delay after the source's item; the share of the copier's items that
    are copies from this source.

    \b
    Example:
      tracker publishers --since 7d
    """
    from tracker.answers.output import render
    from tracker.answers.questions import PAIR_KEYS, PAIR_TABLE, publisher_pairs

    rows = publisher_pairs(read_sessions(ctx), parse_since(since))
    emit(render(rows, fmt, PAIR_TABLE, PAIR_KEYS, empty="no republications"), fmt)


@main.command()
@click.argument("words", nargs=-1, required=True)
@click.option("--limit", type=LIMIT, default=50, show_default=True, help="At most this many items.")
@format_option
@click.pass_context
def find(ctx: click.Context, words: tuple[str, ...], limit: int, fmt: str) -> None:
    """Items whose title contains every one of WORDS (any case), newest first.

    \b
    Example:
      tracker find torkham crossing
    """
    from tracker.answers.output import render
    from tracker.answers.questions import ITEM_TABLE, find_items
    from tracker.store.views import ITEM_COLUMNS

    rows = find_items(read_sessions(ctx), " ".join(words), limit)
    emit(render(rows, fmt, ITEM_TABLE, ITEM_COLUMNS, empty="no item has those words in its title"), fmt)
