"""the API key a session cell was sent with (analysis_session_runs.key_prefix)

Revision ID: 0017a
Revises: 0016a
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = '0017a'
down_revision = '0016a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('analysis_session_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_prefix', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('analysis_session_runs', schema=None) as batch_op:
        batch_op.drop_column('key_prefix')
