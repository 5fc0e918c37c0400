"""the differencing memory forgets by a clock of cells asked, not by rows held: a clock per
dataset signature, each remembered row stamped with it at its last use (decision 0029y)

Revision ID: 0018d
Revises: 0018c
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = '0018d'
down_revision = '0018c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('memory_clocks',
                    sa.Column('signature', sa.String(length=500), nullable=False),
                    sa.Column('ticks', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('signature', name=op.f('pk_memory_clocks')))
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        batch_op.add_column(sa.Column('used_tick', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_released_cells_used_tick', ['signature', 'used_tick'], unique=False)
    # Rows remembered before count as used when the clock began: forgotten once a capacity of
    # cells has been asked since, not at the first query.
    op.execute("UPDATE released_cells SET used_tick = 0")


def downgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        batch_op.drop_index('ix_released_cells_used_tick')
        batch_op.drop_column('used_tick')
    op.drop_table('memory_clocks')
