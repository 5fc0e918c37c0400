"""the differencing memory's window is ranked by the first part's check-aware lower bound: each
bucket's count and check in one value (`first_0..19`, the count times 2^32 plus the check's
low 31 bits), on the window's index in place of the counts alone (decision 0030g)

Revision ID: 0018f
Revises: 0018e
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = '0018f'
down_revision = '0018e'
branch_labels = None
depends_on = None

KEYS = ['key_fingerprint', 'signature', 'records']


def upgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        for i in range(20):
            batch_op.add_column(sa.Column(f'first_{i}', sa.BigInteger(), nullable=True))
    # Rows remembered since decision 0029u hold both; older ones keep null and are ranked by size.
    op.execute("UPDATE released_cells SET " + ", ".join(  # noqa: S608 - column names of our own
        f"first_{i} = CAST(bucket_{i} AS BIGINT) * 4294967296 + check_{i}" for i in range(20))
        + " WHERE " + " AND ".join(f"bucket_{i} IS NOT NULL AND check_{i} IS NOT NULL" for i in range(20)))
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        batch_op.drop_index('ix_released_cells_window')
        batch_op.create_index('ix_released_cells_window', [*KEYS, *(f'first_{i}' for i in range(20))], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        batch_op.drop_index('ix_released_cells_window')
        batch_op.create_index('ix_released_cells_window', [*KEYS, *(f'bucket_{i}' for i in range(20))], unique=False)
        for i in range(20):
            batch_op.drop_column(f'first_{i}')
