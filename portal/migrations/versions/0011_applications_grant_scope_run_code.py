"""applications and their history, the scope of grants, stewards' copy of a run's code

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'applications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('datasets', sa.JSON(), nullable=False),
        sa.Column('purpose', sa.Text(), nullable=False),
        sa.Column('organisation', sa.String(length=200), nullable=False),
        sa.Column('fields_wanted', sa.Text(), nullable=False),
        sa.Column('intended_outputs', sa.Text(), nullable=False),
        sa.Column('duration_days', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('submitted_at', sa.DateTime(), nullable=True),
        sa.Column('due_at', sa.DateTime(), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('renews_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['renews_id'], ['applications.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_applications_user_id', 'applications', ['user_id'])
    op.create_index('ix_applications_state', 'applications', ['state'])
    op.create_table(
        'application_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('application_id', sa.Integer(), nullable=False),
        sa.Column('actor_email', sa.String(length=254), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('from_state', sa.String(length=20), nullable=False),
        sa.Column('to_state', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_application_events_application_id', 'application_events', ['application_id'])
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('columns', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('row_filter', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('application_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_grants_application_id', ['application_id'])
        batch_op.create_foreign_key('fk_grants_application_id', 'applications', ['application_id'], ['id'],
                                    ondelete='SET NULL')
    with op.batch_alter_table('analysis_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_encrypted', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('analysis_runs', schema=None) as batch_op:
        batch_op.drop_column('code_encrypted')
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_constraint('fk_grants_application_id', type_='foreignkey')
        batch_op.drop_index('ix_grants_application_id')
        batch_op.drop_column('application_id')
        batch_op.drop_column('row_filter')
        batch_op.drop_column('columns')
        batch_op.drop_column('version')
    op.drop_index('ix_application_events_application_id', table_name='application_events')
    op.drop_table('application_events')
    op.drop_index('ix_applications_state', table_name='applications')
    op.drop_index('ix_applications_user_id', table_name='applications')
    op.drop_table('applications')
