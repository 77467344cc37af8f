"""Alembic environment for lethe's state tables; run only through :mod:`lethe.state.db`."""

from alembic import context

from lethe.state.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # The application may use Alembic too, in the same database: keep out of its table.
    version_table="lethe_alembic_version",
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
