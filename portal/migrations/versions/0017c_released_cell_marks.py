"""a remembered cell's marks (min-hashes of its records), indexed: the differencing memory finds
a near cell by its records, not by its size alone (decision 0028m)

Revision ID: 0017c
Revises: 0017b
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = '0017c'
down_revision = '0017b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        for i in range(4):
            batch_op.add_column(sa.Column(f'mark_{i}', sa.String(length=24), nullable=True))
            batch_op.create_index(f'ix_released_cells_mark_{i}', ['key_fingerprint', 'signature', f'mark_{i}'],
                                  unique=False)


def downgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        for i in range(4):
            batch_op.drop_index(f'ix_released_cells_mark_{i}')
            batch_op.drop_column(f'mark_{i}')
