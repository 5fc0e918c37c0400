"""the ε-budget mode's ledgers of the account on a dataset (today, and over all days) and a
grant's lifetime ε, counted from what its account had spent when it was made (decision 0030u)

Revision ID: 0018g
Revises: 0018f
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0018g'
down_revision = '0018f'
branch_labels = None
depends_on = None


def _ledger(name: str, *, day: bool) -> None:
    keys = ['user_id', 'dataset_id', *(['day'] if day else [])]
    op.create_table(name,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    *([sa.Column('day', sa.Date(), nullable=False)] if day else []),
    sa.Column('epsilon', sa.Float(), nullable=False),
    sa.Column('queries', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f(f'fk_{name}_dataset_id_datasets'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f(f'fk_{name}_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{name}')),
    sa.UniqueConstraint(*keys, name=op.f(f'uq_{name}_user_id'))
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f'ix_{name}_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index(batch_op.f(f'ix_{name}_user_id'), ['user_id'], unique=False)


def upgrade() -> None:
    _ledger('epsilon_account_days', day=True)
    _ledger('epsilon_account_totals', day=False)
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lifetime_epsilon', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('epsilon_before', sa.Float(), server_default='0', nullable=False))
    # What the grants' ledger holds becomes the accounts' (every grant's lifetime ε counts from
    # nothing: its `epsilon_before` stays 0, so what was spent before counts against it).
    op.execute("INSERT INTO epsilon_account_days (user_id, dataset_id, day, epsilon, queries) "
               "SELECT g.user_id, g.dataset_id, e.day, SUM(e.epsilon), SUM(e.queries) "
               "FROM epsilon_ledger e JOIN grants g ON g.id = e.grant_id GROUP BY g.user_id, g.dataset_id, e.day")
    op.execute("INSERT INTO epsilon_account_totals (user_id, dataset_id, epsilon, queries) "
               "SELECT g.user_id, g.dataset_id, SUM(e.epsilon), SUM(e.queries) "
               "FROM epsilon_ledger e JOIN grants g ON g.id = e.grant_id GROUP BY g.user_id, g.dataset_id")


def downgrade() -> None:
    # Not recreated on SQLite (its DROP COLUMN, 3.35 on): dropping the old `grants` table in a
    # copy-and-move would cascade to every ledger row of every grant (foreign keys are on).
    with op.batch_alter_table('grants', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('epsilon_before')
        batch_op.drop_column('lifetime_epsilon')
    for name in ('epsilon_account_totals', 'epsilon_account_days'):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{name}_user_id'))
            batch_op.drop_index(batch_op.f(f'ix_{name}_dataset_id'))
        op.drop_table(name)
