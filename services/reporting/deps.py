"""FastAPI dependencies shared by every reporting route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session on the read-only engine: report queries never wait for the consumer's writes."""
    async with request.app.state.reporting.read_sessions() as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(read_session)]
