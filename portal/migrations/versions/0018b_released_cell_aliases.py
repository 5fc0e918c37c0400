"""a set answered like a remembered cell is remembered as an alias of that cell: its own size, key
and table, the cell's values (decision 0029q)

Revision ID: 0018b
Revises: 0018a
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = '0018b'
down_revision = '0018a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alias_of', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_released_cells_alias_of'), ['alias_of'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_released_cells_alias_of_released_cells'), 'released_cells',
                                    ['alias_of'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('released_cells', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_released_cells_alias_of_released_cells'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_released_cells_alias_of'))
        batch_op.drop_column('alias_of')
