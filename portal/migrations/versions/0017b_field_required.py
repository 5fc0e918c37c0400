"""whether a field is declared required (Table Schema constraints.required): disclosure control
reads whether a field may be missing from the dictionary, not from the data (decision 0028e)

Revision ID: 0017b
Revises: 0017a
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = '0017b'
down_revision = '0017a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.add_column(sa.Column('required', sa.Boolean(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.drop_column('required')
