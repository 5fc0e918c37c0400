"""the public's ε per dataset and day, and the public answers kept, for the public aggregates of
a dataset in the ε-budget mode (decision 0030z)

Revision ID: 0018i
Revises: 0018h
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0018i'
down_revision = '0018h'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('public_epsilon',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('epsilon', sa.Float(), nullable=False),
    sa.Column('queries', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_public_epsilon_dataset_id_datasets'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_public_epsilon')),
    sa.UniqueConstraint('dataset_id', 'day', name=op.f('uq_public_epsilon_dataset_id'))
    )
    with op.batch_alter_table('public_epsilon', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_epsilon_dataset_id'), ['dataset_id'], unique=False)
    op.create_table('public_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('question', sa.String(length=400), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_public_answers_dataset_id_datasets'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_public_answers')),
    sa.UniqueConstraint('dataset_id', 'version', 'question', name=op.f('uq_public_answers_dataset_id'))
    )
    with op.batch_alter_table('public_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_answers_dataset_id'), ['dataset_id'], unique=False)


def downgrade() -> None:
    for name in ('public_answers', 'public_epsilon'):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{name}_dataset_id'))
        op.drop_table(name)
