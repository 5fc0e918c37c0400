"""the ε each analysis run spent, for the stewards' audit (a run in the ε-budget mode charges no
cells: its ε is what a steward reads)

Revision ID: 0018p
Revises: 0018o
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0018p'
down_revision = '0018o'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('analysis_runs') as batch:
        batch.add_column(sa.Column('epsilon_spent', sa.Float(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('analysis_runs') as batch:
        batch.drop_column('epsilon_spent')
