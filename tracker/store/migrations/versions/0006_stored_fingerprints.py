"""Stored fingerprints: what detection needs of a version, kept when the version is written.

Exact shingles of the story and of the full text, the lead's signature and the paragraph
keys, so that no process tokenises or fingerprints a stored text again when it starts.
Versions stored before this revision have none: the first start after the upgrade
fingerprints them from their text once and stores the result (the loader's backfill).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = ("story_shingles", "full_shingles", "lead_signature", "paragraph_keys")


def upgrade() -> None:
    with op.batch_alter_table("item_versions") as batch:
        for column in COLUMNS:
            batch.add_column(sa.Column(column, sa.LargeBinary))


def downgrade() -> None:
    with op.batch_alter_table("item_versions") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column)
