"""Alembic environment of the activities service."""

from services.activities.models import metadata
from shared.migration_env import run

run(metadata)
