"""HTTP routes of the activities service."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from shared.node_service import UnitOfWorkDep
from services.activities.services import RecordActivity, list_activities, record_activity

router = APIRouter(prefix="/activities", tags=["activities"])


class Recorded(BaseModel):
    activity_id: UUID


class ActivityOut(RecordActivity):
    activity_id: UUID


@router.post("", status_code=201, response_model=Recorded, summary="Record a delivered activity")
async def post_activity(cmd: RecordActivity, uow: UnitOfWorkDep) -> Recorded:
    return Recorded(activity_id=await record_activity(cmd, uow))


@router.get("", response_model=list[ActivityOut], summary="Activities recorded at this node")
async def get_activities(uow: UnitOfWorkDep) -> list[ActivityOut]:
    return [
        ActivityOut.model_validate({c.key: getattr(row, c.key) for c in row.__table__.columns if c.key != "recorded_at"})
        for row in await list_activities(uow)
    ]
