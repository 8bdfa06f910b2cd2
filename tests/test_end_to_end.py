"""The thin slice end to end: HTTP writes at nodes appear in the hub report, traced all the way."""

from __future__ import annotations

from tests.helpers import System, activity, income, organisation


async def test_writes_at_every_service_of_two_nodes_appear_in_the_hub_report(
    system: System,
) -> None:
    org = (await system.post("coventry", "partners", "/organisations", organisation())).json()
    assert (
        await system.post("solihull", "partners", "/organisations", organisation("Quench Arts"))
    ).status_code == 201
    r = await system.post(
        "coventry", "activities", "/activities", activity(org["organisation_id"], headcount=28)
    )
    assert r.status_code == 201
    r = await system.post(
        "solihull",
        "activities",
        "/activities",
        activity(org["organisation_id"], area="solihull", headcount=12, hours="7.5"),
    )
    assert r.status_code == 201
    grant = (await system.post("coventry", "funding", "/income", income(1_000_000_00))).json()
    allocation = {
        "to_node": "solihull",
        "stream": "revenue",
        "amount_pence": 250_000_00,
        "allocated_on": "2025-09-15",
        "funded_from": [{"entry_id": grant["entry_id"], "amount_pence": 250_000_00}],
    }
    sent = await system.post("coventry", "funding", "/allocations", allocation)
    assert sent.status_code == 201
    receipt = {
        "from_node": "coventry",
        "sender_entry_id": sent.json()["entry_id"],
        "stream": "revenue",
        "amount_pence": 250_000_00,
        "received_on": "2025-09-17",
    }
    assert (await system.post("solihull", "funding", "/received", receipt)).status_code == 201

    report = await system.report_when(lambda r: r.stamp.applied_events >= 7)
    by_node = {n.node: n for n in report.nodes}
    assert report.stamp.applied_events == 7
    assert (by_node["coventry"].organisations, by_node["solihull"].organisations) == (1, 1)
    assert (by_node["coventry"].headcount, by_node["solihull"].headcount) == (28, 12)
    assert str(report.totals.hours) == "37.50"
    assert by_node["coventry"].income_pence == 1_000_000_00
    assert (
        by_node["coventry"].allocated_out_pence
        == by_node["solihull"].allocated_in_pence
        == 250_000_00
    )  # both sides


async def test_the_report_is_served_over_http(system: System) -> None:
    import httpx

    from services.reporting.app import create_app

    await system.post("coventry", "partners", "/organisations", organisation())
    await system.report_when(lambda r: r.totals.organisations == 1)
    app = create_app(system.reporting)  # routes only; the service is already running
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting"
    ) as client:
        body = (await client.get("/report")).json()
        health = (await client.get("/report/data-health")).json()
    assert body["totals"]["organisations"] == 1
    assert body["stamp"]["applied_events"] == 1
    assert health == [
        {**health[0], "node": "coventry", "service": "partners", "last_sequence": 1, "missing": 0}
    ]


async def test_bad_input_gets_field_level_reasons_and_changes_nothing(system: System) -> None:
    org = (await system.post("coventry", "partners", "/organisations", organisation())).json()
    bad_dates = await system.post(
        "coventry",
        "activities",
        "/activities",
        activity(org["organisation_id"], ends_on="2024-01-01"),
    )
    bad_schema = await system.post(
        "coventry", "activities", "/activities", activity(org["organisation_id"], headcount=-1)
    )
    overdraw = await system.post(
        "coventry",
        "funding",
        "/allocations",
        {
            "to_node": "solihull",
            "stream": "revenue",
            "amount_pence": 5,
            "allocated_on": "2025-09-15",
            "funded_from": [{"entry_id": org["organisation_id"], "amount_pence": 5}],
        },
    )
    assert bad_dates.status_code == 422
    assert bad_dates.json()["detail"][0]["loc"] == ["body", "ends_on"]
    assert bad_schema.status_code == 422
    assert bad_schema.json()["detail"][0]["loc"] == ["body", "headcount"]
    assert overdraw.status_code == 422
    assert "no entry" in overdraw.json()["detail"][0]["msg"]
    report = await system.report_when(lambda r: r.stamp.applied_events >= 1)
    assert report.totals.activities == 0
    assert report.stamp.applied_events == 1


async def test_one_trace_follows_a_write_from_http_through_nats_to_the_consumer(
    system: System, spans
) -> None:  # type: ignore[no-untyped-def]
    spans.clear()
    org = (await system.post("coventry", "partners", "/organisations", organisation())).json()
    await system.report_when(lambda r: r.totals.organisations == 1)
    finished = spans.get_finished_spans()
    http = [
        s for s in finished if s.name.startswith("POST /organisations") and s.kind.name == "SERVER"
    ]
    publish = [s for s in finished if s.name == "publish OrganisationRegistered"]
    apply = [s for s in finished if s.name == "apply OrganisationRegistered"]
    assert http and publish and apply, [s.name for s in finished]
    trace_id = http[0].context.trace_id
    assert publish[0].context.trace_id == trace_id
    assert apply[0].context.trace_id == trace_id
    assert org["organisation_id"]


async def test_hub_total_counts_an_organisation_on_two_registers_once(system: System) -> None:
    ace = organisation("Arts Council England", org_id="GB-CHC-1036733", roles=["funder"])
    assert (await system.post("coventry", "partners", "/organisations", ace)).status_code == 201
    assert (await system.post("solihull", "partners", "/organisations", ace)).status_code == 201
    assert (
        await system.post("solihull", "partners", "/organisations", organisation("Quench Arts"))
    ).status_code == 201
    report = await system.report_when(lambda r: r.stamp.applied_events >= 3)
    assert {n.node: n.organisations for n in report.nodes} == {"coventry": 1, "solihull": 2}
    assert report.totals.organisations == 2
