"""the statistical mode's cell ledgers of the account on a dataset (today, and over all days) and
a grant's lifetime cells, counted from what its account had released when it was made (decision
0030w)

Revision ID: 0018h
Revises: 0018g
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0018h'
down_revision = '0018g'
branch_labels = None
depends_on = None


def _ledger(name: str, *, day: bool) -> None:
    keys = ['user_id', 'dataset_id', *(['day'] if day else [])]
    op.create_table(name,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    *([sa.Column('day', sa.Date(), nullable=False)] if day else []),
    sa.Column('cells', sa.Integer(), nullable=False),
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
    _ledger('cell_account_days', day=True)
    _ledger('cell_account_totals', day=False)
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lifetime_cells', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cells_before', sa.Integer(), server_default='0', nullable=False))
    # What the grants' ledger holds becomes the accounts' (every grant's lifetime counts from
    # nothing: its `cells_before` stays 0, so what was released before counts against it).
    op.execute("INSERT INTO cell_account_days (user_id, dataset_id, day, cells) "
               "SELECT g.user_id, g.dataset_id, r.day, SUM(r.cells) "
               "FROM release_ledger r JOIN grants g ON g.id = r.grant_id GROUP BY g.user_id, g.dataset_id, r.day")
    op.execute("INSERT INTO cell_account_totals (user_id, dataset_id, cells) "
               "SELECT g.user_id, g.dataset_id, SUM(r.cells) "
               "FROM release_ledger r JOIN grants g ON g.id = r.grant_id GROUP BY g.user_id, g.dataset_id")


def downgrade() -> None:
    # Not recreated on SQLite (as 0018g): a copy-and-move of `grants` would cascade to every
    # ledger row of every grant.
    with op.batch_alter_table('grants', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('cells_before')
        batch_op.drop_column('lifetime_cells')
    for name in ('cell_account_totals', 'cell_account_days'):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{name}_user_id'))
            batch_op.drop_index(batch_op.f(f'ix_{name}_dataset_id'))
        op.drop_table(name)
