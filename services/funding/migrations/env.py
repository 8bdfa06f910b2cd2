"""Alembic environment of the funding service."""

from services.funding.models import metadata
from shared.migration_env import run

run(metadata)
