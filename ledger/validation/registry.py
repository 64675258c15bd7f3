"""The one registry of entry types: each type's body schema, rule, state namespaces and reader.

A type is declared once, as an ``EntryTypeSpec`` in its family's module (``access``, ``consent``,
``grants``, ``governance``, ``genesis_rule``), next to its body and its rule; this module only
collects the declarations. Phase 1 judges a body with ``spec.body``, phase 2 applies ``spec.rule``,
and a type absent here is UNKNOWN_TYPE. Adding a type is one declaration in a family module (a new
family is one more module in the list below).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ledger.validation import access, consent, genesis_rule, governance, grants
from ledger.validation.spec import EntryTypeSpec


def _collect(families: Iterable[Iterable[EntryTypeSpec]]) -> Mapping[str, EntryTypeSpec]:
    out: dict[str, EntryTypeSpec] = {}
    for family in families:
        for spec in family:
            if spec.name in out:
                raise ValueError(f"entry type {spec.name} is declared twice")
            out[spec.name] = spec
    return out


REGISTRY: Mapping[str, EntryTypeSpec] = _collect(
    [genesis_rule.TYPES, governance.TYPES, consent.TYPES, grants.TYPES, access.TYPES]
)
"""Every declared type by name."""


def spec_of(entry_type: str) -> EntryTypeSpec | None:
    """The declaration of ``entry_type``, or None for a type nobody declared."""
    return REGISTRY.get(entry_type)
