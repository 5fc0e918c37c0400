"""the ε each version's synthetic sample spent, the sample's ledger of a dataset in the
ε-budget mode (decision 0031a)

Revision ID: 0018j
Revises: 0018i
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0018j'
down_revision = '0018i'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sample_epsilon', sa.Float(), nullable=True))


def downgrade() -> None:
    # Not recreated on SQLite (its DROP COLUMN, 3.35 on): dropping the old `versions` table in a
    # copy-and-move fails its foreign keys (datasets.current_version_id, as 0018g's `grants`)
    with op.batch_alter_table('versions', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('sample_epsilon')
