"""PostgreSQL data layer: artifacts, pipeline history, audit log and usage, isolated per tenant.

Modules: ``db`` (pool, migrations, DSN helpers), ``roles`` (tenant roles and their Secret),
``history`` (records and queries), ``writer`` (bounded, retrying write queue), ``artifacts``
(operator-side reads), ``cli`` (``pf-figma migrate`` / ``pf-figma artifacts get``).
Nothing is imported here eagerly: ``writer`` registers metrics, the CLI needs none of it.
"""
