"""Every write reaches the hub (issue 20): over the leaf-node topology with signing on, as the demo
and deployments run, a write through each way staff have of writing (every write command of
`hub partners`, `hub activities` and `hub funding`, register imports and a partner return among
them; every write route of every node service's HTTP API; the sample loader) is applied by
reporting, and nothing is dead-lettered.

Which commands and routes there are comes from the typer app and the FastAPI apps themselves: one
added later fails here, naming itself, until it is classified as a read or given an example write
below.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer.main
from nats.aio.client import Client
from nats.js.errors import NotFoundError
from sqlalchemy import func, select
from typer.testing import CliRunner

from harness.sample import load_sample
from hub.cli import app as hub_cli
from hub.demo import leaf_wiring, provisioned_hub
from hub.runner import NODE_SERVICES, RunningSystem, start_system
from hub.topology import HubTopology, Ports, Secrets
from services.reporting.models import AppliedEventRow
from services.reporting.read.queries import hub_report
from shared.bus import connect
from shared.dead_letters import list_dead_letters
from shared.envelope import Envelope
from shared.identity import SERVICES
from shared.nats_server import free_port
from shared.node_service import NodeService
from shared.outbox import SEQUENCE, read_cursor
from shared.pseudonym import make_upn
from shared.settings import HubSettings
from shared.subjects import dlq_stream
from tests.helpers import activity, organisation, wait_for

NODES = ["coventry", "warwickshire", "solihull"]
Ids = dict[str, str]
"""Ids made by earlier writes (organisations, entries, activities), by the name later writes use."""


@dataclass(frozen=True)
class Write:
    """One example write at `node`: `make` builds it from the ids so far and the folder of files to
    import; `keep` names ids to remember from the events it produced, as name -> (event type,
    payload field)."""

    node: str
    make: Callable[[Ids, Path], Any]
    keep: dict[str, tuple[str, str]] = field(default_factory=dict)


def cli(node: str, make: Callable[[Ids, Path], list[str]], **keep: tuple[str, str]) -> Write:
    """A command's arguments after `hub <group> <command>` (`--node` and `--data-dir` are added)."""
    return Write(node, make, keep)


def http(node: str, make: Callable[[Ids, Path], dict[str, Any]], **keep: tuple[str, str]) -> Write:
    """A request body; the path's {placeholders} are filled from the ids."""
    return Write(node, make, keep)


# --- the CLI --------------------------------------------------------------------------------------

CLI_GROUPS = ("partners", "activities", "funding")

CLI_READS = {
    # commands that publish nothing: reads of a node's or the hub's data,
    # and files written for the user
    ("partners", "list"),
    ("partners", "expiring"),
    ("partners", "population"),
    ("partners", "settings"),
    ("partners", "report"),
    ("activities", "list"),
    ("activities", "returns"),
    ("activities", "web-returns"),
    ("activities", "template"),
    ("activities", "sample-register"),
    ("funding", "entries"),
    ("funding", "balance"),
    ("funding", "transfers"),
    ("funding", "budget-report"),
    ("funding", "summary"),
    ("funding", "assets"),
    ("funding", "export-360giving"),
}

PARTNER_RETURN = ["--partner", "{org}", "--year", "2024-25"]
"""Warwickshire's partner (registered by the first write below), its 2024-25 return on the web."""

CLI_NODE_ONLY: dict[tuple[str, str], list[str]] = {
    # writes of what stays at the node by design (docs/partner-returns.md): invitation links and
    # a return's review before it is accepted. They publish nothing; `accept` publishes the return.
    ("activities", "resend"): PARTNER_RETURN,
    ("activities", "revoke"): PARTNER_RETURN,
    ("activities", "send-back"): [*PARTNER_RETURN, "--comments", "add the spring term"],
    ("activities", "remind"): ["--year", "2024-25"],
}

SETTINGS_HEADER = (
    "URN,EstablishmentName,LA (code),PhaseOfEducation (name),TypeOfEstablishment (name)\n"
)
POPULATION_HEADER = (
    "time_period,old_la_code,la_name,headcount,sen_support,ehcp,fsm_eligible,looked_after,"
    "gender_female,gender_male\n"
)


def _delivered_by(register: Path, organisation_id: str) -> str:
    """`register` with every row delivered by `organisation_id`, a partner registered at the
    importing node (the importer refuses a register naming one its node does not hold)."""
    if register.suffix == ".xlsx":
        from openpyxl import load_workbook

        book = load_workbook(register)
        sheet = book.worksheets[0]
        column = [c.value for c in sheet[1]].index("delivered_by") + 1
        for row in range(2, sheet.max_row + 1):
            sheet.cell(row, column, organisation_id)
        book.save(register)
        return str(register)
    with register.open(newline="") as f:
        rows = list(csv.DictReader(f))
    with register.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "delivered_by": organisation_id} for r in rows)
    return str(register)


def _file(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


CLI_WRITES: dict[tuple[str, str], list[Write]] = {
    # in the order they run: later writes use ids the earlier ones made
    ("partners", "register"): [
        cli(
            "warwickshire",
            lambda ids, _: [
                "--name",
                "Shell Street Music Trust",
                "--role",
                "delivery_partner",
                "--function",
                "progression",
            ],
            org=("OrganisationRegistered", "organisation_id"),
        ),
        cli(  # Coventry's partner, who delivers the XLSX register's activities
            "coventry",
            lambda ids, _: [
                "--name",
                "Spon End Strings",
                "--role",
                "delivery_partner",
                "--function",
                "progression",
            ],
            coventry_org=("OrganisationRegistered", "organisation_id"),
        ),
    ],
    ("partners", "change-state"): [
        cli(
            "warwickshire",
            lambda ids, _: [ids["org"], "under_review", "--decided-by", "Partnership panel"],
        )
    ],
    ("partners", "sign-agreement"): [
        cli(
            "warwickshire",
            lambda ids, _: [
                ids["org"],
                "--kind",
                "sla",
                "--title",
                "Progression ensembles 2025-26",
                "--starts-on",
                "2025-09-01",
                "--ends-on",
                "2026-08-31",
            ],
            agreement=("AgreementSigned", "agreement_id"),
        )
    ],
    ("partners", "end-agreement"): [
        cli(
            "warwickshire",
            lambda ids, _: [
                ids["agreement"],
                "--ended-on",
                "2026-01-31",
                "--reason",
                "replaced by a commission",
            ],
        )
    ],
    ("partners", "import-settings"): [
        cli(
            "warwickshire",
            lambda _, files: [
                _file(
                    files,
                    "settings.csv",
                    SETTINGS_HEADER
                    + "937901,Shell Street Primary School,937,Primary,Community school\n",
                )
            ],
        )
    ],
    ("partners", "import-population"): [
        cli(
            "warwickshire",
            lambda _, files: [
                _file(
                    files,
                    "population.csv",
                    POPULATION_HEADER
                    + "202122,937,Warwickshire,87000,11000,3400,17000,z,42500,44500\n",
                )
            ],
        )
    ],
    ("activities", "import"): [
        cli(  # a CSV register
            "warwickshire",
            lambda ids, files: [_delivered_by(files / "register.csv", ids["org"])],
        ),
        cli(  # an XLSX register
            "coventry",
            lambda ids, files: [_delivered_by(files / "register.xlsx", ids["coventry_org"])],
        ),
        cli(
            "warwickshire",
            lambda ids, files: [  # a partner's return
                _delivered_by(files / "return.csv", ids["org"]),
                "--partner",
                ids["org"],
                "--year",
                "2024-25",
                "--submitted-on",
                "2025-07-20",
            ],
        ),
    ],
    ("activities", "invite"): [
        cli(
            "warwickshire",
            lambda ids, _: [
                *[a.format_map(ids) for a in PARTNER_RETURN],
                "--due-on",
                "2025-07-31",
                "--email",
                "returns@shell-street.example",
            ],
        )
    ],
    ("activities", "accept"): [
        cli("warwickshire", lambda ids, _: [a.format_map(ids) for a in PARTNER_RETURN])
    ],
    ("funding", "income"): [
        cli(
            "warwickshire",
            lambda ids, _: ["dfe_grant", "DfE", "170887200", "--on", "2025-09-01"],
            income=("IncomeRecorded", "entry_id"),
        )
    ],
    ("funding", "allocate"): [
        cli(
            "warwickshire",
            lambda ids, _: [
                "coventry",
                "1000000",
                "--from",
                f"{ids['income']}=1000000",
                "--on",
                "2025-09-15",
            ],
            allocation=("FundsAllocated", "entry_id"),
        )
    ],
    ("funding", "receive"): [
        cli(
            "coventry",
            lambda ids, _: ["warwickshire", ids["allocation"], "1000000", "--on", "2025-09-17"],
        )
    ],
    ("funding", "commission"): [
        cli(
            "warwickshire",
            lambda ids, _: [
                ids["org"],
                "Shell Street Music Trust",
                "Progression ensembles",
                "progression",
                "warwickshire",
                "500000",
                "--from",
                f"{ids['income']}=500000",
                "--on",
                "2025-10-01",
            ],
        )
    ],
    ("funding", "spend"): [
        cli(
            "warwickshire",
            lambda ids, _: [
                "staff",
                "schools",
                "warwickshire",
                "Whole class tutors",
                "Warwickshire Music",
                "200000",
                "--from",
                f"{ids['income']}=200000",
                "--on",
                "2026-01-15",
            ],
            spend=("ExpenditureRecorded", "entry_id"),
        )
    ],
    ("funding", "reverse"): [
        cli("warwickshire", lambda ids, _: [ids["spend"], "entered twice", "--on", "2026-01-16"])
    ],
    ("funding", "budget"): [
        cli("warwickshire", lambda ids, _: ["2025-26", "schools", "warwickshire", "5000000"])
    ],
}


def cli_commands() -> set[tuple[str, str]]:
    """Every command of the node groups, as the typer app has them."""
    root = typer.main.get_command(hub_cli)
    groups = root.commands  # type: ignore[attr-defined]
    return {(group, name) for group in CLI_GROUPS for name in groups[group].commands}


def unclassified_cli_commands() -> list[str]:
    commands = cli_commands()
    unknown = [
        f"hub {g} {c}: classify it in CLI_READS or CLI_WRITES of {Path(__file__).name}"
        for g, c in sorted(commands - CLI_READS - set(CLI_WRITES) - set(CLI_NODE_ONLY))
    ]
    gone = [
        f"hub {g} {c} is classified but no longer exists"
        for g, c in sorted((CLI_READS | set(CLI_WRITES) | set(CLI_NODE_ONLY)) - commands)
    ]
    both = [
        f"hub {g} {c} is classified as both a read and a write"
        for g, c in sorted(CLI_READS & set(CLI_WRITES))
    ]
    return unknown + gone + both


# --- HTTP -----------------------------------------------------------------------------------------

PUPIL_DIGITS = "334901024001"


def _pupil() -> dict[str, Any]:
    return {
        "upn": make_upn(PUPIL_DIGITS),
        "year_group": "4",
        "fsm": True,
        "school_urn": "334901",
        "home_area": "solihull",
    }


def _lesson(ids: Ids, **extra: Any) -> dict[str, Any]:
    return activity(ids["organisation_id"], area="solihull", setting_urn="334901", **extra)


def _draw(entry_id: str, pence: int) -> list[dict[str, Any]]:
    return [{"entry_id": entry_id, "amount_pence": pence}]


HTTP_WRITES: dict[tuple[str, str, str], Write] = {
    # (service, method, path template): in the order they run
    ("partners", "POST", "/organisations"): http(
        "solihull",
        lambda ids, _: organisation("Route Road Youth Orchestra", areas=["solihull"]),
        organisation_id=("OrganisationRegistered", "organisation_id"),
    ),
    ("partners", "PATCH", "/organisations/{organisation_id}"): http(
        "solihull",
        lambda ids, _: {
            "name": "Route Road Youth Orchestra CIC",
            "functions": ["progression", "inclusion"],
        },
    ),
    ("partners", "POST", "/organisations/{organisation_id}/state-changes"): http(
        "solihull", lambda ids, _: {"to_state": "under_review", "decided_by": "Partnership panel"}
    ),
    ("partners", "POST", "/organisations/{organisation_id}/agreements"): http(
        "solihull",
        lambda ids, _: {
            "kind": "sla",
            "title": "Youth orchestra 2025-26",
            "starts_on": "2025-09-01",
            "ends_on": "2026-08-31",
        },
        agreement_id=("AgreementSigned", "agreement_id"),
    ),
    ("partners", "POST", "/agreements/{agreement_id}/end"): http(
        "solihull", lambda ids, _: {"ended_on": "2026-01-31", "reason": "replaced by a commission"}
    ),
    ("partners", "POST", "/settings"): http(
        "solihull",
        lambda ids, _: {
            "urn": "334901",
            "name": "Route Road Primary School",
            "la_code": "334",
            "phase": "primary",
            "setting_type": "Community school",
        },
    ),
    ("partners", "POST", "/school-population"): http(
        "solihull",
        lambda ids, _: {
            "la_code": "334",
            "academic_year": "2021-22",
            "pupils": 38000,
            "ehcp": 1200,
        },
    ),
    ("activities", "POST", "/activities"): http(
        "solihull", lambda ids, _: _lesson(ids), activity_id=("ActivityDelivered", "activity_id")
    ),
    ("activities", "POST", "/activities/register"): http(
        "solihull",
        lambda ids, _: {
            "rows": [
                {
                    **_lesson(ids, title="Samba workshop", kind="workshop", headcount=30),
                    "activity_ref": "SOL-HTTP-1",
                }
            ]
        },
    ),
    ("activities", "POST", "/activities/{activity_id}/participants"): http(
        "solihull", lambda ids, _: {"pupils": [_pupil()]}
    ),
    ("activities", "POST", "/activities/{activity_id}/correct"): http(
        "solihull",
        lambda ids, _: _lesson(ids, kind="tuition", headcount=1, reason="was tuition, not WCET"),
    ),
    ("activities", "POST", "/activities/{activity_id}/participants/withdraw"): http(
        "solihull",
        lambda ids, _: {"upns": [make_upn(PUPIL_DIGITS)], "reason": "left before it started"},
    ),
    ("activities", "POST", "/activities/{activity_id}/withdraw"): http(
        "solihull", lambda ids, _: {"reason": "recorded at the wrong hub"}
    ),
    ("activities", "POST", "/returns/expected"): http(
        "solihull",
        lambda ids, _: {
            "partner_id": ids["organisation_id"],
            "academic_year": "2024-25",
            "due_on": "2025-07-31",
        },
    ),
    ("activities", "POST", "/returns"): http(
        "solihull",
        lambda ids, _: {
            "partner_id": ids["organisation_id"],
            "academic_year": "2024-25",
            "submitted_on": "2025-07-20",
            "file_digest": "a" * 64,
            "activities": 1,
            "participations": 0,
        },
    ),
    ("funding", "POST", "/income"): http(
        "solihull",
        lambda ids, _: {
            "source": "trusts",
            "funder": "Youth Music",
            "stream": "revenue",
            "amount_pence": 2_000_000,
            "received_on": "2025-09-01",
        },
        income_id=("IncomeRecorded", "entry_id"),
    ),
    ("funding", "POST", "/allocations"): http(
        "solihull",
        lambda ids, _: {
            "to_node": "coventry",
            "stream": "revenue",
            "amount_pence": 300_000,
            "allocated_on": "2025-09-15",
            "funded_from": _draw(ids["income_id"], 300_000),
        },
        allocation_id=("FundsAllocated", "entry_id"),
    ),
    ("funding", "POST", "/received"): http(
        "coventry",
        lambda ids, _: {
            "from_node": "solihull",
            "sender_entry_id": ids["allocation_id"],
            "stream": "revenue",
            "amount_pence": 300_000,
            "received_on": "2025-09-17",
        },
    ),
    ("funding", "POST", "/commissions"): http(
        "solihull",
        lambda ids, _: {
            "recipient_organisation_id": ids["organisation_id"],
            "recipient_name": "Route Road Youth Orchestra",
            "title": "Youth orchestra",
            "function": "progression",
            "area": "solihull",
            "stream": "revenue",
            "amount_pence": 400_000,
            "commissioned_on": "2025-10-01",
            "funded_from": _draw(ids["income_id"], 400_000),
        },
    ),
    ("funding", "POST", "/expenditure"): http(
        "solihull",
        lambda ids, _: {
            "category": "venues",
            "function": "progression",
            "area": "solihull",
            "description": "Rehearsal hall",
            "payee": "Solihull School",
            "stream": "revenue",
            "amount_pence": 100_000,
            "spent_on": "2026-01-15",
            "funded_from": _draw(ids["income_id"], 100_000),
        },
        spend_id=("ExpenditureRecorded", "entry_id"),
    ),
    ("funding", "POST", "/reversals"): http(
        "solihull",
        lambda ids, _: {
            "entry_id": ids["spend_id"],
            "reason": "entered twice",
            "reversed_on": "2026-01-16",
        },
    ),
    ("funding", "POST", "/budgets"): http(
        "solihull",
        lambda ids, _: {
            "period_kind": "academic",
            "period": "2025-26",
            "function": "progression",
            "area": "solihull",
            "amount_pence": 1_000_000,
        },
    ),
}


def write_operations(service: str, openapi: dict[str, Any]) -> set[tuple[str, str, str]]:
    """Every operation of a service's OpenAPI document that is not a read (GET)."""
    return {
        (service, method.upper(), path)
        for path, ops in openapi["paths"].items()
        for method in ops
        if method.upper() not in ("GET", "HEAD", "OPTIONS")
    }


def unlisted_http_operations(operations: set[tuple[str, str, str]]) -> list[str]:
    unknown = [
        f"{s} {m} {p}: add an example body to HTTP_WRITES of {Path(__file__).name}"
        for s, m, p in sorted(operations - set(HTTP_WRITES))
    ]
    gone = [
        f"{s} {m} {p} is in HTTP_WRITES but no longer a route"
        for s, m, p in sorted(set(HTTP_WRITES) - operations)
    ]
    return unknown + gone


# --- the outboxes: what each write produced -------------------------------------------------------


@dataclass(frozen=True)
class Produced:
    """Events one write put in a node service's outbox."""

    what: str
    node: str
    service: str
    events: list[Envelope]


class Outboxes:
    """Every node service's outbox, read through the service's own tables (nothing is started)."""

    def __init__(self, settings: HubSettings) -> None:
        self.services: dict[tuple[str, str], NodeService] = {
            (node, name): NODE_SERVICES[name].build_service(settings, node, "")
            for node in NODES
            for name in SERVICES
        }

    async def position(self, node: str, service: str) -> int:
        own = self.services[(node, service)]
        async with own.read_sessions() as session:
            return await read_cursor(session, own.outbox.cursor, SEQUENCE)

    async def total(self) -> int:
        return sum([await self.position(node, service) for node, service in self.services])

    async def since(self, node: str, service: str, after: int) -> list[Envelope]:
        own = self.services[(node, service)]
        table = own.outbox.table
        async with own.read_sessions() as session:
            query = select(table.c.body).where(table.c.sequence > after).order_by(table.c.sequence)
            rows = await session.scalars(query)
            return [Envelope.model_validate_json(body) for body in rows]

    async def close(self) -> None:
        for service in self.services.values():
            await service.stop()

    async def write(
        self,
        what: str,
        node: str,
        service: str,
        act: Callable[[], Awaitable[None]],
        keep: dict[str, tuple[str, str]],
        ids: Ids,
    ) -> Produced:
        """Run one write and return the events it added; remember the ids `keep` names."""
        before = await self.position(node, service)
        await act()
        events = await self.since(node, service, before)
        assert events, f"{what} at {node} put no event in the {service} outbox"
        for name, (event_type, field_name) in keep.items():
            made = [e for e in events if e.type == event_type]
            assert len(made) == 1, (
                f"{what}: expected one {event_type}, got {[e.type for e in events]}"
            )
            ids[name] = str(made[0].payload[field_name])
        return Produced(what, node, service, events)


# --- the hub, as the demo runs it -----------------------------------------------------------------


@dataclass
class LeafHubSystem:
    settings: HubSettings
    topology: HubTopology
    system: RunningSystem

    def token(self, node: str) -> str:
        return self.topology.secrets.token(f"{node}-staff")


@pytest.fixture
async def demo_hub(
    tmp_path: Path, hub_id: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LeafHubSystem]:
    """Hub and leaf NATS servers, secrets, every service on its own HTTP port with signing relays,
    and reporting checking node keys: `hub demo`'s wiring. CLI commands see the same hub through
    HUB_HUB."""
    secrets = Secrets.load_or_create(tmp_path / "secrets", NODES)
    settings = HubSettings(
        hub=hub_id,
        data_dir=tmp_path,
        nodes=NODES,
        node_domains=True,
        auth_tokens_file=secrets.tokens_file,
        duplicate_window_seconds=600,
    )
    monkeypatch.setenv("HUB_HUB", hub_id)
    monkeypatch.setenv("HUB_NODES", json.dumps(NODES))
    topology = HubTopology(settings, secrets, Ports()).start()
    try:
        async with provisioned_hub(topology):
            system = await start_system(
                settings, leaf_wiring(topology), base_port=free_port(), move_taken_ports=True
            )
            try:
                yield LeafHubSystem(settings, topology, system)
            finally:
                await system.stop()
    finally:
        await asyncio.to_thread(topology.stop)


def test_every_node_command_of_the_cli_is_classified() -> None:
    assert unclassified_cli_commands() == []


def test_every_write_route_of_the_node_services_has_an_example(tmp_path: Path) -> None:
    settings = HubSettings(hub="routes", data_dir=tmp_path, nodes=NODES)
    operations: set[tuple[str, str, str]] = set()
    for name, module in NODE_SERVICES.items():
        app = module.create_app(module.build_service(settings, NODES[0], ""))
        operations |= write_operations(name, app.openapi())
    assert unlisted_http_operations(operations) == []


@pytest.mark.slow
async def test_every_write_reaches_the_hub_signed_and_nothing_is_dead_lettered(
    demo_hub: LeafHubSystem,
) -> None:
    settings, system = demo_hub.settings, demo_hub.system
    assert system.reporting_service is not None
    assert system.reporting_service.keys is not None, "reporting must check signatures, as deployed"
    outboxes = Outboxes(settings)
    try:
        await load_sample(
            system.urls,
            NODES,
            activities_per_node=2,
            tokens={node: demo_hub.token(node) for node in NODES},
        )
        assert await outboxes.total() > 0, "the sample loader wrote nothing"
        produced = await _cli_writes(outboxes, settings.data_dir) + await _http_writes(
            outboxes, demo_hub
        )

        held = await outboxes.total()
        nc = await connect(demo_hub.topology.admin_url, "dlq-reader")
        try:
            applied, _ = await wait_for(
                lambda: _progress(system, nc, settings.hub), lambda p: sum(p) >= held, timeout=60
            )
            letters = await list_dead_letters(nc.jetstream(), settings.hub)
        finally:
            await nc.close()
        assert Counter(letter.reason for letter in letters) == {}
        assert applied == held
        applied_ids = await _applied_ids(system)
        lost = {
            p.what: [e.type for e in p.events if str(e.event_id) not in applied_ids]
            for p in produced
        }
        assert {what: types for what, types in lost.items() if types} == {}
        await _projected_as_recorded(system, outboxes, held)
    finally:
        await outboxes.close()


async def _cli_writes(outboxes: Outboxes, data_dir: Path) -> list[Produced]:
    """Every write command, run as staff would on the node's machine: in-process,
    against --data-dir."""
    assert unclassified_cli_commands() == []
    files = data_dir / "files"
    files.mkdir()
    await _prepare_registers(outboxes, files)
    ids: Ids = {}
    produced = []
    for (group, command), writes in CLI_WRITES.items():
        if (group, command) == ("activities", "accept"):
            await _partner_submits_on_the_web(outboxes, data_dir, ids)
        for write in writes:
            args = [group, command, *write.make(ids, files), "--node", write.node]
            produced.append(
                await outboxes.write(
                    "hub " + " ".join(args),
                    write.node,
                    group,
                    lambda args=args: _hub([*args, "--data-dir", str(data_dir)]),
                    write.keep,
                    ids,
                )
            )
    return produced


async def _node_only(
    outboxes: Outboxes, data_dir: Path, ids: Ids, group: str, command: str
) -> None:
    node = "warwickshire"
    args = [group, command, *[a.format_map(ids) for a in CLI_NODE_ONLY[(group, command)]]]
    before = await outboxes.total()
    await _hub([*args, "--node", node, "--data-dir", str(data_dir)])
    assert await outboxes.total() == before, f"hub {' '.join(args)} published (node-only)"


async def _partner_submits_on_the_web(outboxes: Outboxes, data_dir: Path, ids: Ids) -> None:
    """The invited partner fills in its return (a class with a count and one pupil by register),
    is sent it back, submits again; staff's node-only commands on the way publish nothing."""
    from services.activities import web_returns as wr

    service = outboxes.services[("warwickshire", "activities")]
    await _node_only(outboxes, data_dir, ids, "activities", "revoke")
    await _node_only(outboxes, data_dir, ids, "activities", "resend")
    await _node_only(outboxes, data_dir, ids, "activities", "remind")
    (web_return,) = await wr.list_web_returns("2024-25", date.today(), service.unit_of_work())
    before = await outboxes.total()
    link = await wr.resend(web_return.web_return_id, service.unit_of_work())
    await wr.open_link(link.token, service.unit_of_work())
    answer = wr.ActivityAnswer(
        kind="wcet",
        title="Whole class brass, Year 4",
        setting_urn="937901",
        starts_on=date(2024, 9, 9),
        ends_on=date(2025, 7, 18),
        hours="30",
        headcount=28,
        functions=["schools"],
        aims=["support_schools"],
    )
    await wr.add_activity(web_return.web_return_id, answer, "warwickshire", service.unit_of_work())
    register = data_dir / "files" / "web-register.csv"
    register.write_text(
        "activity_ref,kind,title,starts_on,ends_on,upn,year_group,home_area\n"
        f"B1,tuition,Brass,2024-10-01,2025-03-31,{make_upn('937901024007')},6,warwickshire\n"
    )
    problems = await wr.upload_register(
        web_return.web_return_id, register, "warwickshire", NODES, service.unit_of_work()
    )
    assert problems == []
    await wr.submit(web_return.web_return_id, date(2025, 7, 20), service.unit_of_work())
    assert await outboxes.total() == before, "a partner's draft published before it was accepted"
    await _node_only(outboxes, data_dir, ids, "activities", "send-back")
    await wr.submit(web_return.web_return_id, date(2025, 7, 21), service.unit_of_work())


async def _prepare_registers(outboxes: Outboxes, files: Path) -> None:
    """A CSV register and a partner's return (`sample-register`) and an XLSX one (`template`):
    commands that write files and publish nothing."""
    before = await outboxes.total()
    await _hub(
        [
            "activities",
            "sample-register",
            str(files / "register.csv"),
            "--rows",
            "40",
            "--node",
            "warwickshire",
        ]
    )
    await _hub(
        [
            "activities",
            "sample-register",
            str(files / "return.csv"),
            "--rows",
            "5",
            "--node",
            "warwickshire",
            "--seed",
            "8",
        ]
    )
    await _hub(["activities", "template", str(files / "register.xlsx")])
    assert await outboxes.total() == before


async def _hub(args: list[str]) -> None:
    """`hub ARGS` in a worker thread (the commands run their own event loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, hub_cli, args)
    assert result.exit_code == 0, f"hub {' '.join(args)}: {result.output}{result.exception!r}"


async def _http_writes(outboxes: Outboxes, hub: LeafHubSystem) -> list[Produced]:
    """Every non-GET operation of every node service, through its running app,
    with the node staff's token."""
    urls = hub.system.urls
    operations: set[tuple[str, str, str]] = set()
    for name in SERVICES:
        async with httpx.AsyncClient(base_url=urls[(NODES[0], name)]) as client:
            operations |= write_operations(name, (await client.get("/openapi.json")).json())
    assert unlisted_http_operations(operations) == []
    ids: Ids = {}
    produced = []
    for (service, method, path), write in HTTP_WRITES.items():
        what = f"{method} {path} ({service})"

        async def call(
            service: str = service,
            method: str = method,
            path: str = path,
            write: Write = write,
            what: str = what,
        ) -> None:
            headers = {"Authorization": f"Bearer {hub.token(write.node)}"}
            base_url = urls[(write.node, service)]
            async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
                response = await client.request(
                    method, path.format_map(ids), json=write.make(ids, Path())
                )
            assert response.is_success, f"{what}: {response.status_code} {response.text}"

        produced.append(await outboxes.write(what, write.node, service, call, write.keep, ids))
    return produced


async def _progress(system: RunningSystem, nc: Client, hub: str) -> tuple[int, int]:
    """Events reporting has applied, and messages it has dead-lettered (either way, done with)."""
    assert system.reporting_service is not None
    async with system.reporting_service.read_sessions() as session:
        applied = int(
            (await session.execute(select(func.count()).select_from(AppliedEventRow))).scalar_one()
        )
    try:
        dead = (await nc.jetstream().stream_info(dlq_stream(hub))).state.messages
    except NotFoundError:
        dead = 0
    return applied, dead


async def _applied_ids(system: RunningSystem) -> set[str]:
    assert system.reporting_service is not None
    async with system.reporting_service.read_sessions() as session:
        return set((await session.scalars(select(AppliedEventRow.event_id))).all())


ORGANISATION_MADE = {"OrganisationRegistered", "SettingAdded"}


async def _projected_as_recorded(system: RunningSystem, outboxes: Outboxes, held: int) -> None:
    """The hub report counts each node's organisations (partners and settings) and income as its
    outboxes recorded them."""
    assert system.reporting_service is not None
    async with system.reporting_service.read_sessions() as session:
        report = await hub_report(session, system.reporting_service.settings.hub, NODES)
    assert report.stamp.applied_events == held
    recorded = {}
    for node in NODES:
        registered = await outboxes.since(node, "partners", 0)
        ledger = await outboxes.since(node, "funding", 0)
        recorded[node] = (
            len({e.payload["organisation_id"] for e in registered if e.type in ORGANISATION_MADE}),
            sum(e.payload["amount_pence"] for e in ledger if e.type == "IncomeRecorded"),
        )
    assert {n.node: (n.organisations, n.income_pence) for n in report.nodes} == recorded
