"""`medgate ledger verify` passes an intact store and names the first bad height of a tampered one.

The generated cases (``tests.ledger.node.tamper``) change every column of every table, delete and
duplicate rows, on SQLite and on a real PostgreSQL, and verify must fail on each."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.services.watermark import Watermark
from gateway.settings import Settings
from ledger.checkpoint import Checkpoint
from ledger.ids import ConsortiumId
from ledger.storage.schema import metadata
from ledger.storage.sql import SqlStore
from tests.ledger.node.ledger_builder import build_ledger
from tests.ledger.node.tamper import Case, apply, cases, copy_store, unchecked
from tests.support.postgres import fresh_database

Tamper = Callable[[sqlite3.Connection], int]
"""Changes the store and returns the height that verify must name."""


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ledger")
    return asyncio.run(build_ledger(root, blocks=6))


@pytest.fixture(scope="module")
def ordering_log(pristine: Path) -> Path:
    """The solo ordering log the pristine store was built from (shared by the consortium)."""
    return pristine.parents[2] / "consortium" / "ordering.db"


@pytest.fixture(scope="module")
def pg_store(pg_server: str) -> Iterator[str]:
    """One PostgreSQL database for the module; each test copies the pristine store into it."""
    with fresh_database(pg_server) as url:
        SqlStore(url).close()  # creates the tables
        yield url


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(["ledger", "verify", *argv, "--quiet"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def _verify(db: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    return _run(["--store", f"sqlite:///{db}"], capsys)


def _verify_with_log(
    url: str, log: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, object]]:
    return _run(["--store", url, "--ordering", str(log)], capsys)


def _height_of_entry(conn: sqlite3.Connection, idx: int) -> int:
    return int(conn.execute("SELECT height FROM entries WHERE idx = ?", (idx,)).fetchone()[0])


def change_body(conn: sqlite3.Connection) -> int:
    leaf = conn.execute("SELECT leaf FROM entries WHERE idx = 5").fetchone()[0]
    assert b'"HPAYMT"' in leaf
    conn.execute("UPDATE entries SET leaf = ? WHERE idx = 5", (leaf.replace(b"HPAYMT", b"TREAT"),))
    return _height_of_entry(conn, 5)


def change_signature(conn: sqlite3.Connection) -> int:
    leaf: bytes = conn.execute("SELECT leaf FROM entries WHERE idx = 7").fetchone()[0]
    at = leaf.index(b'"sig":"') + 10
    flipped = leaf[:at] + (b"A" if leaf[at : at + 1] != b"A" else b"B") + leaf[at + 1 :]
    conn.execute("UPDATE entries SET leaf = ? WHERE idx = 7", (flipped,))
    return _height_of_entry(conn, 7)


def change_header(conn: sqlite3.Connection) -> int:
    conn.execute("UPDATE blocks SET ts = ts + 1 WHERE height = 3")
    return 3


def change_node(conn: sqlite3.Connection) -> int:
    conn.execute("UPDATE merkle_nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 4")
    return _height_of_entry(conn, 9)  # node (1, 4) is completed by leaf 9


def change_state(conn: sqlite3.Connection) -> int:
    conn.execute(
        "UPDATE state SET value = CAST('{}' AS BLOB) WHERE ns = 'consents' AND key = 'c-2'"
    )
    assert conn.total_changes == 1
    rows = conn.execute("SELECT height, leaf FROM entries").fetchall()
    return min(int(h) for h, leaf in rows if b'"consent_id":"c-2"' in leaf)


def delete_entry(conn: sqlite3.Connection) -> int:
    height = _height_of_entry(conn, 11)
    conn.execute("DELETE FROM entries WHERE idx = 11")
    return height


def reorder_entries(conn: sqlite3.Connection) -> int:
    a = conn.execute("SELECT tx_id, leaf, code FROM entries WHERE idx = 13").fetchone()
    b = conn.execute("SELECT tx_id, leaf, code FROM entries WHERE idx = 14").fetchone()
    conn.execute("UPDATE entries SET tx_id=?, leaf=?, code=? WHERE idx = 13", b)
    conn.execute("UPDATE entries SET tx_id=?, leaf=?, code=? WHERE idx = 14", a)
    return _height_of_entry(conn, 13)


def test_intact_store_verifies(pristine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = _verify(pristine, capsys)
    assert code == 0
    assert result["ok"] is True
    assert result["entries"] == 19  # genesis + 6 rounds of 3 entries
    assert isinstance(result["height"], int)
    assert result["height"] >= 6


@pytest.mark.parametrize(
    "tamper",
    [
        change_body,
        change_signature,
        change_header,
        change_node,
        change_state,
        delete_entry,
        reorder_entries,
    ],
)
def test_tampering_is_named_at_its_height(
    tamper: Tamper, pristine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "ledger.db"
    shutil.copy(pristine, db)
    with sqlite3.connect(db) as conn:
        expected = tamper(conn)
    code, result = _verify(db, capsys)
    assert code == 1
    assert result["ok"] is False
    assert result["first_bad_height"] == expected, result


def test_intact_store_verifies_against_its_ordering_log(
    pristine: Path, ordering_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _verify_with_log(f"sqlite:///{pristine}", ordering_log, capsys)
    assert code == 0, result
    assert result["log_checked"] is True
    assert isinstance(result["position"], int)
    assert result["position"] >= 18  # one stream position per entry, cut markers besides


def test_without_the_log_verify_says_positions_were_only_bounded(
    pristine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["ledger", "verify", "--store", f"sqlite:///{pristine}", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out.strip().splitlines()[-1])["log_checked"] is False
    assert "checked for bounds only" in captured.err


@pytest.mark.parametrize("delta", [1, -1])
def test_last_block_position_moved_is_named(
    delta: int,
    pristine: Path,
    ordering_log: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "ledger.db"
    shutil.copy(pristine, db)
    with sqlite3.connect(db) as conn:
        (head,) = conn.execute("SELECT max(height) FROM blocks").fetchone()
        conn.execute("UPDATE blocks SET position = position + ? WHERE height = ?", (delta, head))
    code, result = _verify_with_log(f"sqlite:///{db}", ordering_log, capsys)
    assert code == 1
    assert result["first_bad_height"] == head
    assert "the log closes this block at" in str(result["problem"])


def test_position_below_the_entries_it_holds_fails_even_without_the_log(
    pristine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "ledger.db"
    shutil.copy(pristine, db)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE blocks SET position = (SELECT position FROM blocks WHERE height = 1) "
            "WHERE height = 2"
        )
    code, result = _verify(db, capsys)
    assert code == 1
    assert result["first_bad_height"] == 2


def test_cases_cover_every_column_of_every_table() -> None:
    changed = {(c.table, c.column) for c in cases() if c.action == "change"}
    every = {(t.name, col.name) for t in metadata.sorted_tables for col in t.columns}
    assert changed == every
    assert {c.table for c in cases() if c.action == "delete"} == set(metadata.tables)
    assert {c.table for c in cases() if c.action == "duplicate"} == set(metadata.tables)


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_sqlite_tampering_fails_verify(
    case: Case,
    pristine: Path,
    ordering_log: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "ledger.db"
    shutil.copy(pristine, db)
    url = f"sqlite:///{db}"
    with unchecked(url) as conn:
        apply(conn, case)
    code, result = _verify_with_log(url, ordering_log, capsys)
    assert code == 1, result
    assert result["ok"] is False


def test_postgres_copy_of_the_store_verifies(
    pristine: Path, ordering_log: Path, pg_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_store(f"sqlite:///{pristine}", pg_store)
    code, result = _verify_with_log(pg_store, ordering_log, capsys)
    assert code == 0, result


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_postgres_tampering_fails_verify(
    case: Case,
    pristine: Path,
    ordering_log: Path,
    pg_store: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy_store(f"sqlite:///{pristine}", pg_store)
    with unchecked(pg_store) as conn:
        apply(conn, case)
    code, result = _verify_with_log(pg_store, ordering_log, capsys)
    assert code == 1, result
    assert result["ok"] is False


@pytest.mark.parametrize(
    ("change", "code", "word"),
    [
        ({}, 0, ""),
        ({"block_hash": "0" * 64}, 4, "FORKED"),
        ({"height": 1000, "tree_size": 5000}, 3, "BEHIND"),
    ],
)
def test_verify_compares_with_the_members_checkpoint_record(
    change: dict[str, object],
    code: int,
    word: str,
    pristine: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = pristine.parents[1] / "medgate.toml"
    settings = Settings.load(config)
    store = SqlStore(settings.ledger_store_url)
    head = store.head()
    store.close()
    assert head is not None
    signed = dataclasses.replace(Checkpoint.of(ConsortiumId(settings.consortium), head), **change)
    record = tmp_path / "record.json"
    record.write_bytes(Watermark(signed).encode())
    monkeypatch.setenv("MEDGATE_STORAGE__WATERMARK", str(record))
    got = main(["ledger", "verify", "--config", str(config), "--quiet"])
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert got == code, captured.err
    assert summary["log_checked"] is True
    if code == 0:
        assert summary["references"][0]["standing"] == "current"
    else:
        assert captured.err.strip().splitlines()[-1].startswith(f"ledger verify: {word} against")
