"""Register imports: every bad-row category is reported as row, column and reason and nothing is
imported; a good file imports in batches, and importing it again adds nothing."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.sample.activities import REGISTER_COLUMNS, write_register
from hub.cli import app
from hub.commands.activities import TEMPLATE, read_register
from shared.pseudonym import make_upn, upn_check_letter
from shared.tabular import TabularError

ORG = "01a2011f-0000-7000-8000-000000000001"
PARTNER = "01a2011f-0000-7000-8000-0000000000aa"
runner = CliRunner()


def row(**extra: str) -> dict[str, str]:
    base = {
        "activity_ref": "A1",
        "kind": "wcet",
        "title": "Whole class violins",
        "delivered_by": ORG,
        "area": "coventry",
        "setting_urn": "103690",
        "starts_on": "2024-09-09",
        "ends_on": "2025-04-04",
        "term": "autumn 2024",
        "hours": "30",
        "headcount": "",
        "functions": "schools",
        "aims": "support_schools",
        "level": "beginner",
        "upn": make_upn("331369024001"),
        "year_group": "4",
        "send": "",
        "fsm": "yes",
        "looked_after": "no",
        "ethnicity": "white",
        "gender": "female",
        "school_urn": "103690",
        "home_area": "coventry",
    }
    return {**base, **extra}


def write(path: Path, rows: list[dict[str, str]], columns: list[str] = REGISTER_COLUMNS) -> Path:
    with path.open("w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        out.writeheader()
        out.writerows(rows)
    return path


def hub(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_every_kind_of_bad_row_is_reported_and_nothing_is_imported(tmp_path: Path) -> None:
    digits = "331369024002"
    wrong = "A" if upn_check_letter(digits) != "A" else "B"
    rows = [
        row(),  # 2: fine
        row(kind="violin lessons", upn=make_upn("331369024003")),  # 3: not a kind
        row(upn="X12345", activity_ref="A2"),  # 4: UPN format
        row(upn=wrong + digits, activity_ref="A3"),  # 5: check letter
        row(title='=HYPERLINK("http://x")', activity_ref="A4"),  # 6: formula
        row(activity_ref="A5", ends_on="2024-01-01"),  # 7: ends before it starts
        row(activity_ref="A6", upn=""),  # 8: neither pupil nor headcount
        row(
            activity_ref="A7", upn=make_upn("331369024004"), home_area=""
        ),  # 9: pupil without home area
        row(hours="12", upn=make_upn("331369024005")),  # 10: A1 described two ways
        row(),  # 11: same pupil twice in A1
        row(activity_ref="A8", fsm="perhaps"),  # 12: not a yes/no
        row(activity_ref="A9", starts_on="0999-09-01"),  # 13: no academic year to name
    ]
    problems = read_register(write(tmp_path / "bad.csv", rows))[1]
    found = {(p.row, p.column): p.reason for p in problems}
    assert "wcet" in found[(3, "kind")]
    assert "13 characters" in found[(4, "upn")]
    assert f"expected {upn_check_letter(digits)}" in found[(5, "upn")]
    assert "formula" in found[(6, "title")]
    assert "before starts_on" in next(r for (n, _), r in found.items() if n == 7)
    assert "upn" in next(r for (n, _), r in found.items() if n == 8) and "headcount" in next(
        r for (n, _), r in found.items() if n == 8
    )
    assert "home_area" in next(r for (n, _), r in found.items() if n == 9)
    assert found[(10, "hours")] == "differs from row 2 for activity_ref A1"
    assert found[(11, "upn")] == "same pupil already listed for this activity in row 2"
    assert (12, "fsm") in found
    assert "not between 1900 and 2999" in found[(13, "starts_on")]
    assert {n for n, _ in found} == set(range(3, 14)), (
        "row 2 is fine and every other row is reported"
    )

    data = tmp_path / "data"
    result = runner.invoke(
        app,
        [
            "activities",
            "import",
            str(tmp_path / "bad.csv"),
            "--node",
            "coventry",
            "--data-dir",
            str(data),
        ],
    )
    assert result.exit_code == 1 and "nothing imported" in result.output
    assert not (data / "coventry" / "activities.db").exists(), (
        "a bad file does not even open the node's database"
    )


def test_whole_file_problems_are_reported_without_reading_rows(tmp_path: Path) -> None:
    with pytest.raises(TabularError) as missing:
        read_register(
            write(
                tmp_path / "short.csv",
                [row()],
                [c for c in REGISTER_COLUMNS if c != "delivered_by"],
            )
        )
    assert [(p.row, p.column) for p in missing.value.problems] == [(1, "delivered_by")]
    (tmp_path / "register.txt").write_text("activity_ref\n")
    with pytest.raises(TabularError, match="unsupported file type"):
        read_register(tmp_path / "register.txt")
    extra = read_register(
        write(tmp_path / "extra.csv", [{**row(), "notes": "x"}], [*REGISTER_COLUMNS, "notes"])
    )[1]
    assert [(p.row, p.column) for p in extra] == [(2, "notes")]


def test_a_register_imports_in_batches_and_again_adds_nothing(tmp_path: Path) -> None:
    register = tmp_path / "register.csv"
    assert write_register(register, 2000) == 2000
    data = tmp_path / "data"
    dry = hub(
        "activities",
        "import",
        str(register),
        "--node",
        "coventry",
        "--data-dir",
        str(data),
        "--dry-run",
    )
    assert "2000 rows OK" in dry
    first = hub(
        "activities",
        "import",
        str(register),
        "--node",
        "coventry",
        "--data-dir",
        str(data),
        "--batch-size",
        "500",
    )
    db = data / "coventry" / "activities.db"
    activities = count(db, "select count(*) from activity")
    events = count(db, "select count(*) from outbox")
    assert activities == 72 and count(db, "select count(*) from participation") == 2000
    assert events == activities * 2, "one ActivityDelivered and one ParticipationRecorded per class"
    assert count(db, "select sum(headcount) from activity") == 2000
    assert "2000 participations added" in first.replace("\n", " ")

    with sqlite3.connect(db) as conn:
        bodies = b"".join(body for (body,) in conn.execute("select body from outbox"))
        upns = [upn for (upn,) in conn.execute("select upn from participation")]
    assert len(set(upns)) == 2000 and not [u for u in upns if u.encode() in bodies], (
        "a UPN is in an event"
    )

    again = hub(
        "activities", "import", str(register), "--node", "coventry", "--data-dir", str(data)
    )
    assert "0 participations added" in again.replace("\n", " ")
    assert (
        count(db, "select count(*) from participation"),
        count(db, "select count(*) from outbox"),
    ) == (2000, events)


def test_a_partner_return_from_an_xlsx_template_is_recorded_once(tmp_path: Path) -> None:
    data, xlsx = tmp_path / "data", tmp_path / "return.xlsx"
    hub("activities", "template", str(xlsx))
    args = [
        "activities",
        "import",
        str(xlsx),
        "--node",
        "coventry",
        "--data-dir",
        str(data),
        "--partner",
        PARTNER,
        "--year",
        "2024-25",
        "--submitted-on",
        "2025-07-01",
    ]
    hub(*args)
    hub(*args)
    db = data / "coventry" / "activities.db"
    assert count(db, "select count(*) from partner_return") == 1
    assert count(db, "select count(*) from activity where partner_return_id is not null") == 2
    assert count(db, "select count(*) from outbox where event_type = 'PartnerReturnSubmitted'") == 1
    assert (
        count(db, "select count(*) from participation")
        == len(TEMPLATE.read_text().splitlines()) - 2
    )
    listed = hub(
        "activities", "returns", "--node", "coventry", "--year", "2024-25", "--data-dir", str(data)
    )
    assert "unexpected" in listed


def test_pupils_imported_later_into_an_activity_raise_its_headcount_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    pupils = [row(upn=make_upn(f"3313690240{n:02}")) for n in range(5)]
    first, later = (
        write(tmp_path / "autumn.csv", pupils[:2]),
        write(tmp_path / "spring.csv", pupils[2:]),
    )
    db = data / "coventry" / "activities.db"
    hub("activities", "import", str(first), "--node", "coventry", "--data-dir", str(data))
    assert count(db, "select headcount from activity") == 2

    hub("activities", "import", str(later), "--node", "coventry", "--data-dir", str(data))
    assert count(db, "select headcount from activity") == 5
    corrected = "select count(*) from outbox where event_type = 'ActivityCorrected'"
    assert count(db, corrected) == 1

    hub("activities", "import", str(later), "--node", "coventry", "--data-dir", str(data))
    assert (count(db, "select headcount from activity"), count(db, corrected)) == (5, 1)


def test_a_register_that_gives_a_headcount_keeps_it_when_pupils_arrive_later(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    hub(
        "activities",
        "import",
        str(write(tmp_path / "a.csv", [row(headcount="30", upn="")])),
        "--node",
        "coventry",
        "--data-dir",
        str(data),
    )
    hub(
        "activities",
        "import",
        str(write(tmp_path / "b.csv", [row(headcount="30")])),
        "--node",
        "coventry",
        "--data-dir",
        str(data),
    )
    db = data / "coventry" / "activities.db"
    assert count(db, "select headcount from activity") == 30
    assert count(db, "select count(*) from outbox where event_type = 'ActivityCorrected'") == 0


def test_delivered_by_must_be_in_the_nodes_partners_register_where_it_is_here(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    hub("partners", "register", "--node", "coventry", "--name", "Ex Cathedra", "--role",
        "delivery_partner", "--data-dir", str(data))  # fmt: skip
    register = write(tmp_path / "r.csv", [row(), row(activity_ref="A2", delivered_by="")])
    result = runner.invoke(
        app, ["activities", "import", str(register), "--node", "coventry", "--data-dir", str(data)]
    )
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "nothing imported" in text, result.output
    assert f"{ORG} is not in coventry's partners register" in text
    assert "required: the cell is blank" in text and "UUID input" not in text
    assert not (data / "coventry" / "activities.db").exists()
