"""Article pages: the page a feed entry links to, read for the article (issue #14).

- `pages`: each page read (fetched, or found in an archive), its article text and what it
  says of itself (title, site name, canonical link, date), or why it gave none;
- `page_keys`: the URLs a page answers for; `page_redirects`: redirects found in archives;
- `item_pages`: per item, whether its page is wanted, used, or failing (with backoff);
- `item_versions.from_page`: a version whose text is the page's article.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("url_hash", sa.String(16), nullable=False),
        sa.Column("final_url", sa.Text, nullable=False),
        sa.Column("fetched_at", sa.DateTime, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("status", sa.Integer),
        sa.Column("content_type", sa.Text),
        sa.Column("bytes", sa.Integer),
        sa.Column("body_hash", sa.String(32), nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("site_name", sa.Text),
        sa.Column("canonical_url", sa.Text),
        sa.Column("published_at", sa.DateTime),
        sa.Column("text", sa.Text),
        sa.Column("words", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("error_kind", sa.String(40)),
    )
    op.create_index("ix_pages_url_time", "pages", ["url_hash", "fetched_at"])
    op.create_table(
        "page_keys",
        sa.Column("url_hash", sa.String(16), primary_key=True),
        sa.Column("page_id", sa.Integer, sa.ForeignKey("pages.id"), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "page_redirects",
        sa.Column("from_hash", sa.String(16), primary_key=True),
        sa.Column("to_hash", sa.String(16), primary_key=True),
        sa.Column("from_url", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_page_redirects_to_hash", "page_redirects", ["to_hash"])
    op.create_table(
        "item_pages",
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("setting", sa.String(10), nullable=False),
        sa.Column("page_id", sa.Integer, sa.ForeignKey("pages.id")),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("error_kind", sa.String(40)),
        sa.Column("tried_at", sa.DateTime),
        sa.Column("next_try_at", sa.DateTime),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
    )
    op.create_index("ix_item_pages_state_next", "item_pages", ["state", "next_try_at"])
    with op.batch_alter_table("item_versions") as batch:
        batch.add_column(sa.Column("from_page", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("item_versions") as batch:
        batch.drop_column("from_page")
    op.drop_index("ix_item_pages_state_next", "item_pages")
    op.drop_table("item_pages")
    op.drop_index("ix_page_redirects_to_hash", "page_redirects")
    op.drop_table("page_redirects")
    op.drop_table("page_keys")
    op.drop_index("ix_pages_url_time", "pages")
    op.drop_table("pages")
