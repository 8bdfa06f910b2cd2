"""Alembic environment of the reporting service."""

from services.reporting.models import metadata
from shared.migration_env import run

run(metadata)
