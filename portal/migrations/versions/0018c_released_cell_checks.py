"""a remembered cell's sketch checks (their low 31 bits, 60 buckets): the differencing memory's
search sees a record added and one removed in a bucket whose counts agree (decision 0029u)

Revision ID: 0018c
Revises: 0018b
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = '0018c'
down_revision = '0018b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        for i in range(60):
            batch_op.add_column(sa.Column(f'check_{i}', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        for i in range(60):
            batch_op.drop_column(f'check_{i}')
