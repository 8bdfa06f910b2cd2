"""The dashboard's pure parts: password hashes, scope rules, chart layout and text alternatives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.assets import without_gov_uk_only
from services.reporting.app import build_service
from services.reporting.dashboard.auth import DashboardUser, Users, hash_password, password_matches
from services.reporting.dashboard.charts import bar_chart, draw, sankey, sankey_layout
from services.reporting.read.catalogue import VIEWS, run_view
from services.reporting.read.charts import Link, Series
from services.reporting.read.params import ViewParams
from services.reporting.settings import ReportingSettings
from shared.auth import Role
from shared.settings import HubSettings

STAFF = DashboardUser("c", Role.NODE_STAFF, "coventry", ("coventry",))


def test_password_hashes_are_salted_scrypt_and_verify() -> None:
    one, two = hash_password("s3cret"), hash_password("s3cret")
    assert one != two and one.startswith("scrypt$")
    assert password_matches("s3cret", one) and not password_matches("s3cre", one)
    assert not password_matches("s3cret", "sha256$abc")
    users = Users({"c": {"password_hash": one, "role": "node_staff", "node": "coventry"}})
    assert users.authenticate("c", "s3cret") == STAFF  # areas default to the node's own
    assert users.authenticate("nobody", "s3cret") is None
    nodeless = Users({"x": {"password_hash": one, "role": "node_staff", "node": ""}})
    assert (
        nodeless.authenticate("x", "s3cret") is None
    )  # node staff of no node would see the whole hub


def test_bar_chart_is_an_image_with_title_description_and_every_value() -> None:
    svg = str(
        bar_chart(
            "Pupils <by> area",
            "coventry: 2",
            ["coventry", "solihull"],
            [Series("pupils", [2, 1]), Series("population", [None, 5])],
            "t",
        )
    )
    assert 'role="img"' in svg and 'aria-labelledby="t-t t-d"' in svg
    assert '<title id="t-t">Pupils &lt;by&gt; area</title>' in svg
    assert "unknown" in svg and ">2<" in svg and ">5<" in svg


def test_sankey_conserves_amounts_and_stacks_each_column_within_the_height() -> None:
    links = [
        Link("0:dfe", "1:cov", 700),
        Link("0:dfe", "1:sol", 300),
        Link("1:cov", "2:schools", 500),
    ]
    nodes = sankey_layout(links, {"0:dfe": 0, "1:cov": 1, "1:sol": 1, "2:schools": 2}, height=400)
    assert nodes["0:dfe"].value == 1000 and nodes["1:cov"].value == 700  # the larger of in and out
    assert nodes["1:cov"].height == pytest.approx(7 / 3 * nodes["1:sol"].height, rel=0.01)
    assert max(n.y + n.height for n in nodes.values()) <= 400 + 1e-6
    svg = str(
        sankey(
            "Money", "dfe to cov 700", links, {n: int(n[0]) for n in nodes}, ["a", "b", "c"], "s"
        )
    )
    assert len(re.findall(r"<path ", svg)) == 3 and "dfe to cov: 700" in svg
    assert "No money" in str(
        sankey("Money", "No money", [], {}, ["a", "b"], "e")
    )  # a year without flows


def test_vendored_css_keeps_no_gov_uk_only_font() -> None:
    css = (
        "a{b:c}@font-face{font-family:GDS Transport;src:url(/assets/fonts/x.woff2)}"
        "/*# sourceMappingURL=x.map */d{e:f}"
    )
    assert without_gov_uk_only(css) == "a{b:c}d{e:f}"


@pytest.mark.parametrize("name", [n for n, spec in VIEWS.items() if spec.chart])
async def test_every_chart_a_view_declares_is_drawn_as_an_image(
    name: str, settings: HubSettings, tmp_path: Path
) -> None:
    """The catalogue declares each view's chart (read/charts.py); the dashboard draws any of them,
    here from a database with no events yet (every chart has its empty case)."""
    service = build_service(
        settings, "", ReportingSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    )
    await service.start(consume=False)
    try:
        async with service.read_sessions() as session:
            result = await run_view(
                session, name, ViewParams(hub=settings.hub, nodes=settings.nodes, period="2024-25")
            )
        chart = VIEWS[name].chart(result)  # type: ignore[misc]
        svg = str(draw(chart))
        assert svg.startswith("<svg") and 'role="img"' in svg
        assert "<title id=" in svg and chart.title.replace("'", "&#x27;") in svg
    finally:
        await service.stop()
