"""load reports on versions, declared field types

Revision ID: 0010
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('load_report', sa.JSON(), nullable=True))
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.add_column(sa.Column('declared_type', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.drop_column('declared_type')
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.drop_column('load_report')
