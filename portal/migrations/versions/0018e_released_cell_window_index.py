"""the differencing memory's window is taken by the first part's lower bound: its twenty
counts join the size index, so the window is ranked on the index alone (decision 0030a); the
index by last use, unused since the clock (decision 0029y), goes

Revision ID: 0018e
Revises: 0018d
Create Date: 2026-12-02
"""

from alembic import op

revision = '0018e'
down_revision = '0018d'
branch_labels = None
depends_on = None

WINDOW = ['key_fingerprint', 'signature', 'records', *(f'bucket_{i}' for i in range(20))]


def upgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        batch_op.drop_index('ix_released_cells_last_used')
        batch_op.drop_index('ix_released_cells_signature_records')
        batch_op.create_index('ix_released_cells_window', WINDOW, unique=False)


def downgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        batch_op.drop_index('ix_released_cells_window')
        batch_op.create_index('ix_released_cells_signature_records', WINDOW[:3], unique=False)
        batch_op.create_index('ix_released_cells_last_used', ['signature', 'last_used_at'], unique=False)
