"""Follows the contracts' logs into SQLite or PostgreSQL (SQLAlchemy Core)."""
