"""cells deleted from a notebook session (analysis_session_runs.deleted_at)

Revision ID: 0015c
Revises: 0015
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = '0015c'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('analysis_session_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('analysis_session_runs', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
