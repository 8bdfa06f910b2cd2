"""Alembic environment of the partners service."""

from services.partners.models import metadata
from shared.migration_env import run

run(metadata)
