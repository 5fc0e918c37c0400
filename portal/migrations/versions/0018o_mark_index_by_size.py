"""the released cells' mark indexes hold the size too, so that a mark's rows in a set's size range
are sought on the index alone (decision 0031g)

Revision ID: 0018o
Revises: 0018n
Create Date: 2026-12-03
"""

from alembic import op

revision = '0018o'
down_revision = '0018n'
branch_labels = None
depends_on = None

MARKS = 4


def upgrade() -> None:
    for i in range(MARKS):
        op.drop_index(f'ix_released_cells_mark_{i}', table_name='released_cells')
        op.create_index(f'ix_released_cells_mark_{i}', 'released_cells',
                        ['key_fingerprint', 'signature', f'mark_{i}', 'records'], unique=False)


def downgrade() -> None:
    for i in range(MARKS):
        op.drop_index(f'ix_released_cells_mark_{i}', table_name='released_cells')
        op.create_index(f'ix_released_cells_mark_{i}', 'released_cells', ['key_fingerprint', 'signature', f'mark_{i}'],
                        unique=False)
