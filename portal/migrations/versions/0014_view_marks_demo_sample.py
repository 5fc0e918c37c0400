"""view marks (one view per visitor, dataset and day) and the demo-sample flag of datasets

Revision ID: 0014
Revises: 0011
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('view_marks',
    sa.Column('digest', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_view_marks'))
    )
    with op.batch_alter_table('view_marks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_view_marks_day'), ['day'], unique=False)
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('demo_sample', sa.Boolean(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('demo_sample')
    with op.batch_alter_table('view_marks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_view_marks_day'))
    op.drop_table('view_marks')
