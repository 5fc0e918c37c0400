"""a remembered cell's sketch counts (60 buckets): the differencing memory's search ranks the
cells nearest a set in records by them, not by size or marks an attacker can crowd (decision 0029a)

Revision ID: 0018a
Revises: 0017c
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = '0018a'
down_revision = '0017c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        for i in range(60):
            batch_op.add_column(sa.Column(f'bucket_{i}', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        for i in range(60):
            batch_op.drop_column(f'bucket_{i}')
