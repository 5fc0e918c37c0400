"""values of a field that mark aggregate rows (regions beside countries), left out of default charts

Revision ID: 0016a
Revises: 0015c
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = '0016a'
down_revision = '0015c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.add_column(sa.Column('aggregates', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.drop_column('aggregates')
