"""`medgate ledger verify` passes an intact store and names the first bad height of a tampered one."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.cli.main import main
from tests.ledger.node.ledger_builder import build_ledger

Tamper = Callable[[sqlite3.Connection], int]
"""Changes the store and returns the height that verify must name."""


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ledger")
    return asyncio.run(build_ledger(root, blocks=6))


def _verify(db: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(["ledger", "verify", "--store", f"sqlite:///{db}", "--quiet"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


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
