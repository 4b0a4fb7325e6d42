"""The tables of article pages: pages read, the URLs they answer for, and each item's page state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.store.schema import Base


class Page(Base):
    """An article page as read (tracker.reader.pages): a feed entry's linked page, fetched or found
    in an archive. Kept whether or not an item links to it yet (a page archived before its
    feed entry joins the item when it arrives); the article text, never the HTML."""

    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    # lookup_hash(url): a page ingested twice is recognised by it, its time and its body.
    url_hash: Mapped[str] = mapped_column(String(16))
    final_url: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(DateTime)
    source: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(Text)
    bytes: Mapped[int | None] = mapped_column(Integer)
    body_hash: Mapped[str] = mapped_column(String(32))
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    site_name: Mapped[str | None] = mapped_column(Text)
    canonical_url: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    text: Mapped[str | None] = mapped_column(Text)
    words: Mapped[int] = mapped_column(Integer, default=0)
    # Why the page gave no article (too large, not HTML, no article text), as for captures.
    error: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(String(40))


class PageKey(Base):
    """A URL a page answers for (tracker.detection.identity.lookup_hash): the URL asked, the one
    redirected to, a URL that redirected to it (never the canonical link it declares)."""

    __tablename__ = "page_keys"
    __table_args__ = {"sqlite_with_rowid": False}

    url_hash: Mapped[str] = mapped_column(String(16), primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id"), primary_key=True)


class PageRedirect(Base):
    """A redirect found in an archive: a page stored under `to_hash` answers for `from_hash` too."""

    __tablename__ = "page_redirects"
    __table_args__ = {"sqlite_with_rowid": False}

    from_hash: Mapped[str] = mapped_column(String(16), primary_key=True)
    to_hash: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)
    from_url: Mapped[str] = mapped_column(Text)


class ItemPage(Base):
    """An item's page, as data on the item: whether it is wanted (its feed text is a
    summary, `pages` setting permitting), which page was joined and whether its article is
    the item's text, and fetch failures with their backoff (as feeds keep theirs)."""

    __tablename__ = "item_pages"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    # wanted | used | not_used | failed | gone
    state: Mapped[str] = mapped_column(String(20))
    setting: Mapped[str] = mapped_column(String(10), default="auto")
    page_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(String(40))
    tried_at: Mapped[datetime | None] = mapped_column(DateTime)
    next_try_at: Mapped[datetime | None] = mapped_column(DateTime)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)


Index("ix_item_pages_state_next", ItemPage.state, ItemPage.next_try_at)
Index("ix_pages_url_time", Page.url_hash, Page.fetched_at)
