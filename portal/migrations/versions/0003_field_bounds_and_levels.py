"""field bounds and levels, clamped values per version

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fields') as batch:
        batch.add_column(sa.Column('minimum', sa.Float(), nullable=True))
        batch.add_column(sa.Column('maximum', sa.Float(), nullable=True))
        batch.add_column(sa.Column('levels', sa.JSON(), nullable=True))
    with op.batch_alter_table('versions') as batch:
        batch.add_column(sa.Column('clamped', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('versions') as batch:
        batch.drop_column('clamped')
    with op.batch_alter_table('fields') as batch:
        batch.drop_column('levels')
        batch.drop_column('maximum')
        batch.drop_column('minimum')
