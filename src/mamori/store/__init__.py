"""Persistence: SQLAlchemy Core tables, Alembic migrations, SQLite (WAL) or PostgreSQL."""
