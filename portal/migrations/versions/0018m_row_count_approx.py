"""the record count the catalog shows of a version of a dataset in the ε-budget mode, a
differentially private figure instead of the exact `row_count` (decision 0031f)

Revision ID: 0018m
Revises: 0018l
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0018m'
down_revision = '0018l'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Versions published before it have none: their released counts were not kept, so the
    # catalog shows no figure for them (never the exact count)
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('row_count_approx', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # Not recreated on SQLite (see 0018j)
    with op.batch_alter_table('versions', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('row_count_approx')
