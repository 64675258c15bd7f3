"""What an entry type declares: its body schema, its rule, its state namespaces and its reader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.statekv import StateChange
from ledger.validation.context import Ctx
from ledger.validation.fields import Body

Rule = Callable[[Ctx], list[StateChange]]


@dataclass(frozen=True, slots=True)
class EntryTypeSpec:
    """Everything the ledger knows about one entry type, declared once in its family's module.

    ``rule`` is None only for genesis, which has no sender and no state before it (its rule is
    ``genesis_rule.apply_genesis``). ``namespaces`` are the state namespaces the rule may write
    (besides the nonce row every valid entry writes); ``reader`` is the typed query integrators
    read them with. ``endorsed``: the entry carries a quorum's endorsements.
    """

    name: str
    body: type[Body]
    rule: Rule | None
    namespaces: tuple[str, ...]
    reader: Callable[..., Any]
    endorsed: bool = False
