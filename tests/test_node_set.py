"""The hub's nodes are a closed set: an unknown node on every node-naming field and option is
refused, with the allowed values named; nothing is written and no file is created.

Cases come from the app's own tables: the contract registry's declared node fields (`node_fields`),
the typer app's commands with a `--node` option or a node-naming argument, and the node services'
FastAPI write routes whose bodies name a node. A field, command or route added later is covered, or
fails here until it is classified.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from hub.cli import app as hub_app
from hub.runner import NODE_SERVICES, node_app
from shared.contracts import NodeRule, all_contracts, is_latest
from shared.errors import Invalid
from shared.node_service import NodeService, UnknownNode
from shared.settings import HubSettings

SAMPLES = Path(__file__).parent / "samples"
STRANGER = "birmingham"
PUBLISHER = "coventry"
NODE_FIELD_NAMES = {path.rsplit(".", 1)[-1] for c in all_contracts() for path in c.node_fields}
"""Names of the payload fields that name a node, as the contracts declare them
(to_node, from_node, area)."""


def declared_node_fields() -> list[tuple[type, str, NodeRule]]:
    return [
        (c, path, rule)
        for c in all_contracts()
        if is_latest(c)
        for path, rule in c.node_fields.items()
    ]


@pytest.fixture
async def services(settings: HubSettings) -> AsyncIterator[dict[str, NodeService]]:
    """Coventry's three node services, migrated, offline (no NATS needed to refuse a write)."""
    built = {
        name: module.build_service(settings, PUBLISHER, "")
        for name, module in NODE_SERVICES.items()
    }
    for service in built.values():
        await service.start(relay=False)
    yield built
    for service in built.values():
        await service.stop()


async def outbox_count(service: NodeService) -> int:
    async with service.sessions() as session:
        return int(
            (
                await session.execute(select(func.count()).select_from(service.outbox.table))
            ).scalar_one()
        )


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")} if folder.exists() else set()


def with_value(sample: dict[str, Any], path: str, value: str) -> dict[str, Any]:
    """A copy of a payload with the (dotted) field set to `value`."""
    doc = json.loads(json.dumps(sample))
    *parents, leaf = path.split(".")
    target = doc
    for part in parents:
        target = target[part]
    target[leaf] = [value] if isinstance(target.get(leaf), list) else value  # areas: a list
    return doc


# --- the boundary every write crosses: UnitOfWork.emit --------------------------------------------


def test_the_registry_declares_the_node_naming_fields() -> None:
    """Not empty by accident: the transfer's other side, the activity's and the money's area, and
    the areas only their own node may speak for."""
    declared = {(c.event_type, path): rule for c, path, rule in declared_node_fields()}
    assert (
        declared[("FundsAllocated", "to_node")]
        == declared[("FundsReceived", "from_node")]
        == NodeRule.OTHER
    )
    assert (
        declared[("SchoolPopulationRecorded", "area")]
        == declared[("SettingAdded", "area")]
        == NodeRule.OWN
    )
    assert (
        declared[("ActivityCorrected", "activity.area")]
        == declared[("ExpenditureRecorded", "area")]
        == NodeRule.HUB
    )
    assert (  # the areas an organisation serves are the hub's: 'mars' is a 422
        declared[("OrganisationRegistered", "areas")]
        == declared[("OrganisationDetailsChanged", "areas")]
        == NodeRule.HUB
    )


@pytest.mark.parametrize(
    ("contract", "path", "rule"),
    declared_node_fields(),
    ids=[f"{c.event_type}.{p}" for c, p, _ in declared_node_fields()],
)
async def test_emit_refuses_a_payload_naming_a_node_it_may_not(
    services: dict[str, NodeService], contract: type, path: str, rule: NodeRule
) -> None:
    service = services[contract.service]  # type: ignore[attr-defined]
    sample = json.loads((SAMPLES / f"{contract.event_type}.v{contract.version}.json").read_text())  # type: ignore[attr-defined]
    leaf = path.rsplit(".", 1)[-1]
    refused_values = {
        STRANGER: "is not one of the hub's nodes: one of solihull"
        if rule == NodeRule.OTHER
        else "is not one of the hub's nodes: one of coventry, solihull"
    }
    if rule == NodeRule.OWN:  # only its own area, whichever other it names
        refused_values = {
            v: "is not this node's own: must be 'coventry'" for v in (STRANGER, "solihull")
        }
    if rule == NodeRule.OTHER:
        refused_values[PUBLISHER] = "own share is not a transfer to itself; one of solihull"
    for value, why in refused_values.items():
        payload = contract.model_validate(with_value(sample, path, value))  # type: ignore[attr-defined]
        with pytest.raises(Invalid) as refused:
            async with service.unit_of_work() as uow:
                await uow.emit(payload)
                await uow.commit()
        assert set(refused.value.fields) == {leaf}
        assert (
            refused.value.fields[leaf].startswith(f"{value!r} ")
            and why in refused.value.fields[leaf]
        )
    assert await outbox_count(service) == 0, "nothing written"
    allowed_value = PUBLISHER if rule == NodeRule.OWN else "solihull"
    async with service.unit_of_work() as uow:  # the same payload naming a node it may: written
        await uow.emit(contract.model_validate(with_value(sample, path, allowed_value)))  # type: ignore[attr-defined]
        await uow.commit()
    assert await outbox_count(service) == 1


# --- where every node service is built ------------------------------------------------------------


@pytest.mark.parametrize("name", list(NODE_SERVICES))
def test_no_node_service_is_built_for_a_node_outside_the_hub(
    settings: HubSettings, name: str
) -> None:
    before = files_under(settings.data_dir)
    for build in (
        lambda: NODE_SERVICES[name].build_service(settings, STRANGER, ""),
        lambda: node_app(name, settings, STRANGER, ""),
    ):
        with pytest.raises(UnknownNode) as refused:
            build()
        assert refused.value.fields == {
            "node": "'birmingham' is not one of the hub's nodes: one of coventry, solihull"
        }
    assert files_under(settings.data_dir) == before and not (settings.data_dir / STRANGER).exists()


# --- the CLI: every --node option, every node-naming argument -------------------------------------


def cli_commands() -> list[tuple[list[str], Any]]:
    """Every command of the `hub` app (click commands, as typer builds them) with its path
    of names."""
    found: list[tuple[list[str], Any]] = []

    def walk(command: Any, path: list[str]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            found.append((path, command))

    walk(typer.main.get_command(hub_app), [])
    return found


def cli(tmp_path: Path, args: list[str]) -> Any:
    env = {
        "HUB_NODES": json.dumps(["coventry", "solihull"]),
        "HUB_DATA_DIR": str(tmp_path / "data"),
        "HUB_CONFIG": str(tmp_path / "no-hub.toml"),
    }
    return CliRunner().invoke(hub_app, args, env=env)


def test_every_node_option_refuses_a_node_outside_the_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with_node = [
        path for path, command in cli_commands() if any("--node" in p.opts for p in command.params)
    ]
    assert (
        ["funding", "income"] in with_node
        and ["activities", "import"] in with_node
        and ["serve"] in with_node
    )
    for path in with_node:
        result = cli(tmp_path, [*path, "--node", STRANGER])
        assert result.exit_code != 0, path
        assert result.output == (
            "--node: 'birmingham' is not one of the hub's nodes: one of coventry, solihull "
            "(HUB_NODES)\n"
        ), (path, result.output)
    assert files_under(tmp_path) == set(), "a refused --node created nothing"


def test_every_node_naming_argument_of_a_write_command_is_refused(tmp_path: Path) -> None:
    """Each command's own node-naming arguments (named as the contracts name them), given a node
    outside the hub or (a transfer) the node itself: exit 1, one line naming the allowed nodes, the
    ledger unchanged. A command with such an argument that is not listed here fails the test."""
    data = ["--data-dir", str(tmp_path / "data")]
    income = cli(
        tmp_path, ["funding", "income", "--node", PUBLISHER, "dfe_grant", "DfE", "100000", *data]
    )
    assert income.exit_code == 0, income.output
    source = f"{income.output.split()[-1]}=100"
    cases: dict[tuple[str, ...], Callable[[str], list[str]]] = {
        ("funding", "allocate", "to_node"): lambda v: [v, "100", "--from", source],
        ("funding", "receive", "from_node"): lambda v: [v, str(uuid.uuid4()), "100"],
        ("funding", "commission", "area"): lambda v: [
            str(uuid.uuid4()),
            "Drake Music",
            "Inclusive ensembles",
            "inclusion",
            v,
            "100",
            "--from",
            source,
        ],
        ("funding", "spend", "area"): lambda v: [
            "delivery",
            "schools",
            v,
            "Tutors",
            "Coventry Music",
            "100",
            "--from",
            source,
        ],
        ("funding", "budget", "area"): lambda v: ["2025-26", "schools", v, "100"],
        ("partners", "register", "area"): lambda v: [
            "--name",
            "Ex Cathedra",
            "--role",
            "delivery_partner",
            "--area",
            v,
        ],
    }
    free: set[tuple[str, str, str]] = set()  # every node-naming option is checked
    named = {
        (*path, p.name)
        for path, command in cli_commands()
        if path[0] in NODE_SERVICES  # the node's own groups
        for p in command.params
        if p.name in NODE_FIELD_NAMES
    }
    assert named == set(cases) | free
    cli(tmp_path, ["partners", "list", "--node", PUBLISHER, *data])  # its database, as funding's
    before = files_under(tmp_path)
    for (group, name, field), args in cases.items():
        for value in (STRANGER, *([PUBLISHER] if field in {"to_node", "from_node"} else [])):
            result = cli(tmp_path, [group, name, "--node", PUBLISHER, *args(value), *data])
            line = " ".join(result.output.split())
            assert (
                result.exit_code == 1
                and line.startswith("refused:")
                and f"{field.removesuffix('s')}: '{value}'" in line.replace("areas:", "area:")
            ), (name, line)
            assert line.endswith("solihull"), line  # the allowed values named
    entries = cli(tmp_path, ["funding", "entries", "--node", PUBLISHER, *data])
    assert entries.output.count("income") == 1 and "allocation" not in entries.output
    assert files_under(tmp_path) == before


def test_a_register_naming_an_area_outside_the_hub_imports_nothing(tmp_path: Path) -> None:
    """The whole file is checked first: the unknown area is a problem of its row, and no row of the
    file is imported, not even those before it."""
    from hub.commands.activities import TEMPLATE

    register = tmp_path / "register.csv"
    lines = TEMPLATE.read_text().splitlines()
    header = lines[0].split(",")
    last = lines[-1].split(",")
    last[header.index("area")] = STRANGER
    last[header.index("activity_ref")] = "elsewhere-1"
    register.write_text("\n".join([*lines, ",".join(last)]) + "\n")
    data = ["--data-dir", str(tmp_path / "data")]
    result = cli(tmp_path, ["activities", "import", str(register), "--node", PUBLISHER, *data])
    text = " ".join(result.output.split())
    assert (
        result.exit_code == 1
        and "nothing imported" in text
        and "area" in text
        and "'birmingham'" in text
    ), text
    assert not (tmp_path / "data" / PUBLISHER / "activities.db").exists(), (
        "checked before the database is opened"
    )
    register.write_text("\n".join(lines) + "\n")
    assert (
        cli(tmp_path, ["activities", "import", str(register), "--node", PUBLISHER, *data]).exit_code
        == 0
    )


# --- HTTP: every write route whose body names a node ----------------------------------------------


def body_node_fields(
    schema: dict[str, Any], components: dict[str, Any], prefix: str = ""
) -> set[str]:
    """Dotted names of a request body's fields named as the contracts name node fields
    (from OpenAPI)."""
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    found: set[str] = set()
    for name, prop in schema.get("properties", {}).items():
        if name in NODE_FIELD_NAMES:
            found.add(prefix + name)
        for nested in (prop, prop.get("items", {}), *prop.get("anyOf", ())):
            if "$ref" in nested:
                found |= body_node_fields(
                    nested,
                    components,
                    f"{prefix}{name}{'[]' if nested is prop.get('items') else ''}.",
                )
    return found


def write_routes(apps: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(service, route path, body field) for every node-naming field of a node service's write
    route, from each app's own route table (its OpenAPI document)."""
    found = set()
    for name, app in apps.items():
        document = app.openapi()
        components = document.get("components", {}).get("schemas", {})
        for path, methods in document["paths"].items():
            for method in {"post", "put", "patch"} & set(methods):
                body = (
                    methods[method]
                    .get("requestBody", {})
                    .get("content", {})
                    .get("application/json")
                )
                if body:
                    found |= {(name, path, f) for f in body_node_fields(body["schema"], components)}
    return found


async def test_every_write_route_naming_a_node_refuses_one_outside_the_hub(
    services: dict[str, NodeService],
) -> None:
    apps = {name: NODE_SERVICES[name].create_app(service) for name, service in services.items()}
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
        for name, app in apps.items()
    }
    try:
        grant = (
            await clients["funding"].post(
                "/income",
                json={
                    "source": "dfe_grant",
                    "funder": "DfE",
                    "stream": "revenue",
                    "amount_pence": 100_000,
                    "received_on": "2025-09-01",
                },
            )
        ).json()["entry_id"]
        draw = [{"entry_id": grant, "amount_pence": 100}]
        activity = {
            "kind": "workshop",
            "title": "Samba",
            "delivered_by": str(uuid.uuid4()),
            "area": PUBLISHER,
            "starts_on": "2024-10-01",
            "ends_on": "2024-10-01",
            "headcount": 20,
        }
        partner = (
            await clients["partners"].post(
                "/organisations", json={"name": "Drake Music", "roles": ["delivery_partner"]}
            )
        ).json()["organisation_id"]
        recorded = await clients["activities"].post("/activities", json=activity)
        assert recorded.status_code == 201, recorded.text
        activity_id = recorded.json()["activity_id"]
        row = {"activity_ref": "r1", **activity}
        cases: dict[tuple[str, str, str], tuple[str, Callable[[str], dict[str, Any]]]] = {
            ("funding", "/income", "area"): (
                "/income",
                lambda v: {
                    "source": "trusts",
                    "funder": "A trust",
                    "stream": "revenue",
                    "amount_pence": 100,
                    "received_on": "2025-09-01",
                    "area": v,
                },
            ),
            ("funding", "/allocations", "to_node"): (
                "/allocations",
                lambda v: {
                    "to_node": v,
                    "stream": "revenue",
                    "amount_pence": 100,
                    "allocated_on": "2025-09-02",
                    "funded_from": draw,
                },
            ),
            ("funding", "/received", "from_node"): (
                "/received",
                lambda v: {
                    "from_node": v,
                    "sender_entry_id": str(uuid.uuid4()),
                    "stream": "revenue",
                    "amount_pence": 100,
                    "received_on": "2025-09-02",
                },
            ),
            ("funding", "/commissions", "area"): (
                "/commissions",
                lambda v: {
                    "recipient_organisation_id": str(uuid.uuid4()),
                    "recipient_name": "Drake Music",
                    "title": "Ensembles",
                    "function": "inclusion",
                    "area": v,
                    "stream": "revenue",
                    "amount_pence": 100,
                    "commissioned_on": "2025-09-02",
                    "funded_from": draw,
                },
            ),
            ("funding", "/expenditure", "area"): (
                "/expenditure",
                lambda v: {
                    "category": "delivery",
                    "function": "schools",
                    "area": v,
                    "description": "Tutors",
                    "payee": "Staff",
                    "stream": "revenue",
                    "amount_pence": 100,
                    "spent_on": "2025-09-02",
                    "funded_from": draw,
                },
            ),
            ("funding", "/budgets", "area"): (
                "/budgets",
                lambda v: {
                    "period_kind": "academic",
                    "period": "2025-26",
                    "function": "schools",
                    "area": v,
                    "amount_pence": 100,
                },
            ),
            ("partners", "/organisations", "areas"): (
                "/organisations",
                lambda v: {"name": "Ex Cathedra", "roles": ["delivery_partner"], "areas": [v]},
            ),
            ("partners", "/organisations/{organisation_id}", "areas"): (
                f"PATCH /organisations/{partner}",
                lambda v: {"areas": [v]},
            ),
            ("partners", "/organisations/{organisation_id}/agreements", "areas"): (
                f"/organisations/{partner}/agreements",
                lambda v: {
                    "kind": "sla",
                    "title": "Ensembles",
                    "starts_on": "2025-09-01",
                    "ends_on": "2026-08-31",
                    "areas": [v],
                },
            ),
            ("activities", "/activities", "area"): (
                "/activities",
                lambda v: {**activity, "area": v},
            ),
            ("activities", "/activities/{activity_id}/correct", "area"): (
                f"/activities/{activity_id}/correct",
                lambda v: {**activity, "area": v, "reason": "moved"},
            ),
            ("activities", "/activities/register", "rows[].area"): (
                "/activities/register",
                lambda v: {"rows": [{**row, "area": v}]},
            ),
        }
        assert write_routes(apps) == set(cases), (
            "classify the new write route's node-naming field here"
        )
        before = {name: await outbox_count(service) for name, service in services.items()}
        for (name, _, field), (path, body) in cases.items():
            for value in (STRANGER, *([PUBLISHER] if field in {"to_node", "from_node"} else [])):
                method, _, at = path.rpartition(" ")
                response = await clients[name].request(method or "POST", at, json=body(value))
                assert response.status_code == 422, (path, response.text)
                [detail] = response.json()["detail"]
                assert (
                    detail["loc"][-1] == field.rsplit(".", 1)[-1] and f"'{value}'" in detail["msg"]
                ), detail
                assert "solihull" in detail["msg"], detail
        assert {
            name: await outbox_count(service) for name, service in services.items()
        } == before, "nothing written"
        entries = (await clients["funding"].get("/entries")).json()
        assert [e["kind"] for e in entries] == ["income"]
        assert len((await clients["activities"].get("/activities")).json()) == 1
    finally:
        for client in clients.values():
            await client.aclose()
