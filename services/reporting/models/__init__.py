"""Tables of the reporting service: what has been applied (base.py) and the projections
(one module per context)."""

from __future__ import annotations

from services.reporting.models.activities import ActivityView
from services.reporting.models.base import (
    HUB_POSITION,
    AppliedEventRow,
    Base,
    IngestPositionRow,
    ProducerPositionRow,
    metadata,
)
from services.reporting.models.funding import (
    FundingBudgetView,
    FundingEntryView,
    FundingFlowView,
    FundingLinkView,
)
from services.reporting.models.partners import OrganisationView

__all__ = [
    "ActivityView",
    "AppliedEventRow",
    "Base",
    "HUB_POSITION",
    "FundingBudgetView",
    "FundingEntryView",
    "FundingFlowView",
    "FundingLinkView",
    "IngestPositionRow",
    "OrganisationView",
    "ProducerPositionRow",
    "metadata",
]
