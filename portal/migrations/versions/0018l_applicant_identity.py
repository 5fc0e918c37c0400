"""the applicant's identity on applications (name, document type, the number's keyed digest and
last four characters, the organisation's credit code) and the account whose budgets a grant
charges (decision 0031e)

Revision ID: 0018l
Revises: 0018j
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0018l'
down_revision = '0018j'
branch_labels = None
depends_on = None

IDENTITY = (('applicant_name', sa.String(length=100)), ('document_type', sa.String(length=20)),
            ('id_digest', sa.String(length=64)), ('id_last4', sa.String(length=4)),
            ('credit_code', sa.String(length=18)))


def upgrade() -> None:
    # Never recreated on SQLite: a copy-and-move of `grants` or `applications` would cascade to
    # every ledger row of every grant and every application's history (as 0018g, 0018h).
    with op.batch_alter_table('applications', schema=None, recreate='never') as batch_op:
        for name, kind in IDENTITY:
            batch_op.add_column(sa.Column(name, kind, nullable=True))
        batch_op.create_index(batch_op.f('ix_applications_id_digest'), ['id_digest'], unique=False)
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite adds a column with its reference in place (no copy of the table; alembic would
        # copy it). No ON DELETE: SQLite does not report it on an inline reference, and the model
        # has none either (an account whose budget other grants charge is not deleted under them).
        op.execute("ALTER TABLE grants ADD COLUMN budget_user_id INTEGER CONSTRAINT fk_grants_budget_user_id_users "
                   "REFERENCES users (id)")
    else:
        op.add_column('grants', sa.Column('budget_user_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_grants_budget_user_id_users'), 'grants', 'users', ['budget_user_id'], ['id'])
    op.create_index(op.f('ix_grants_budget_user_id'), 'grants', ['budget_user_id'], unique=False)
    # Every grant made before charges its own account, as it did.
    op.execute("UPDATE grants SET budget_user_id = user_id")


def downgrade() -> None:
    with op.batch_alter_table('grants', schema=None, recreate='never') as batch_op:
        if op.get_bind().dialect.name != 'sqlite':
            batch_op.drop_constraint(batch_op.f('fk_grants_budget_user_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_grants_budget_user_id'))
        batch_op.drop_column('budget_user_id')
    with op.batch_alter_table('applications', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_applications_id_digest'))
        for name, _ in reversed(IDENTITY):
            batch_op.drop_column(name)
