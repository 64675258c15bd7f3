"""The consortium policy document: YAML in, validated frozen rules out, and its digest.

A rule says, for one role and purpose of use, which resource types may ever be requested, what
basis a release needs (the policy itself, a patient consent, a custodian's grant), which
obligations apply, and whether break-glass is allowed and for how long. The digest is taken over
the canonical JSON of the parsed document, so reformatting the YAML does not change it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import yaml

from policies.canonical import digest
from policies.errors import EncodingError, PolicyDocumentError
from policies.obligations import Obligation, parse_obligation

_ROLE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_PURPOSE = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_OBLIGATION = re.compile(r"^(audit|notify-patient|deidentify|redact:[A-Za-z0-9_-]{1,32})$")
MAX_BREAK_GLASS_MINUTES = 24 * 60


class Basis(enum.Enum):
    """What a release must rest on besides the rule itself."""

    POLICY = "policy"  # the rule suffices (implied consent); a patient's deny still wins
    CONSENT = "consent"  # an explicit, active patient consent permitting it
    GRANT = "grant"  # an active grant from the custodian to the requester
    CONSENT_OR_GRANT = "consent-or-grant"


@dataclass(frozen=True, slots=True)
class BreakGlass:
    minutes: int
    obligations: tuple[Obligation, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    """One (role, purpose) rule. `referenced_types` are released only as referenced by a primary."""

    rule_id: str
    resource_types: frozenset[str]
    referenced_types: frozenset[str]
    basis: Basis
    obligations: tuple[Obligation, ...]
    break_glass: BreakGlass | None


@dataclass(frozen=True, slots=True)
class ConsortiumPolicy:
    version: str
    digest: str
    rules: Mapping[tuple[str, str], Rule]

    def rule(self, role: str, purpose: str) -> Rule | None:
        return self.rules.get((role, purpose))


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            mark = key_node.start_mark
            raise PolicyDocumentError(f"line {mark.line + 1}", f"duplicate key {key!r}")
        seen[key] = loader.construct_object(value_node, deep=True)
    return seen


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def parse_document(doc: bytes | str) -> Any:
    """YAML to plain data, refusing duplicate keys. Raises PolicyDocumentError."""
    try:
        return yaml.load(doc, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "$"
        raise PolicyDocumentError(where, f"not YAML: {getattr(exc, 'problem', exc)}") from exc


def policy_digest(doc: bytes | str) -> str:
    """Hex SHA-256 of the canonical JSON of the validated document. Raises PolicyDocumentError."""
    return load_policy(doc).digest


def load_policy(doc: bytes | str) -> ConsortiumPolicy:
    """Parse and validate a policy document. Raises PolicyDocumentError naming path and problem."""
    data = parse_document(doc)
    top = _mapping(data, "$", required={"version", "roles"}, optional={"description"})
    version = _string(top["version"], "version")
    rules: dict[tuple[str, str], Rule] = {}
    roles = _mapping(top["roles"], "roles")
    for role, role_doc in roles.items():
        path = f"roles.{role}"
        _match(_ROLE, role, path, "role name must be lower-case letters, digits or '-'")
        role_map = _mapping(role_doc, path, required={"purposes"}, optional={"description"})
        for purpose, rule_doc in _mapping(role_map["purposes"], f"{path}.purposes").items():
            rule_path = f"{path}.purposes.{purpose}"
            _match(_PURPOSE, purpose, rule_path, "purpose must be an HL7 v3 ActReason code")
            rules[(role, purpose)] = _rule(role, purpose, rule_doc, rule_path)
    try:
        doc_digest = digest(data)
    except EncodingError as exc:
        raise PolicyDocumentError(exc.path.replace("$.", "", 1), exc.problem) from exc
    return ConsortiumPolicy(version, doc_digest, MappingProxyType(rules))


def _rule(role: str, purpose: str, doc: object, path: str) -> Rule:
    rule = _mapping(
        doc,
        path,
        required={"resource_types", "basis"},
        optional={"referenced_types", "obligations", "break_glass", "description"},
    )
    types = _names(rule["resource_types"], f"{path}.resource_types", _TYPE, "a FHIR resource type")
    if not types:
        raise PolicyDocumentError(f"{path}.resource_types", "must list at least one type")
    referenced = _names(
        rule.get("referenced_types", []), f"{path}.referenced_types", _TYPE, "a FHIR resource type"
    )
    basis_text = _string(rule["basis"], f"{path}.basis")
    try:
        basis = Basis(basis_text)
    except ValueError as exc:
        allowed = ", ".join(b.value for b in Basis)
        raise PolicyDocumentError(
            f"{path}.basis", f"{basis_text!r} is not one of {allowed}"
        ) from exc
    obligations = _obligations(rule.get("obligations", []), f"{path}.obligations")
    glass = None if "break_glass" not in rule else _break_glass(rule["break_glass"], path)
    return Rule(
        f"policy:{role}/{purpose}",
        frozenset(types),
        frozenset(referenced) - frozenset(types),
        basis,
        obligations,
        glass,
    )


def _break_glass(doc: object, path: str) -> BreakGlass:
    path = f"{path}.break_glass"
    glass = _mapping(doc, path, required={"minutes"}, optional={"obligations"})
    minutes = glass["minutes"]
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise PolicyDocumentError(f"{path}.minutes", "must be an integer")
    if not 1 <= minutes <= MAX_BREAK_GLASS_MINUTES:
        raise PolicyDocumentError(f"{path}.minutes", f"must be 1..{MAX_BREAK_GLASS_MINUTES}")
    return BreakGlass(minutes, _obligations(glass.get("obligations", []), f"{path}.obligations"))


def _obligations(doc: object, path: str) -> tuple[Obligation, ...]:
    """A rule's obligations: the part of the vocabulary a policy may impose by itself."""
    text = "audit, notify-patient, deidentify or redact:<label>"
    return tuple(sorted(parse_obligation(n) for n in _names(doc, path, _OBLIGATION, text)))


def _names(doc: object, path: str, pattern: re.Pattern[str], what: str) -> list[str]:
    if not isinstance(doc, list):
        raise PolicyDocumentError(path, "must be a list")
    seen: list[str] = []
    for i, item in enumerate(doc):
        item_path = f"{path}[{i}]"
        name = _string(item, item_path)
        _match(pattern, name, item_path, f"{name!r} is not {what}")
        if name in seen:
            raise PolicyDocumentError(item_path, f"duplicate {name!r}")
        seen.append(name)
    return seen


def _mapping(
    doc: object, path: str, required: set[str] | None = None, optional: set[str] | None = None
) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise PolicyDocumentError(path, "must be a mapping")
    for key in doc:
        if not isinstance(key, str):
            raise PolicyDocumentError(path, f"key {key!r} must be a string")
    if required is not None:
        prefix = "" if path == "$" else f"{path}."
        for key in sorted(required - doc.keys()):
            raise PolicyDocumentError(f"{prefix}{key}", "is required")
        for key in sorted(doc.keys() - required - (optional or set())):
            raise PolicyDocumentError(f"{prefix}{key}", "unknown key")
    return doc


def _string(doc: object, path: str) -> str:
    if not isinstance(doc, str) or not doc:
        raise PolicyDocumentError(path, "must be a non-empty string (quote numbers in YAML)")
    return doc


def _match(pattern: re.Pattern[str], text: str, path: str, problem: str) -> None:
    if not pattern.match(text):
        raise PolicyDocumentError(path, problem)


DEFAULT_POLICY_FILE = "consortium-policy.yaml"


def default_policy_bytes() -> bytes:
    """The default consortium policy shipped in this package (a package resource, read-only)."""
    from importlib import resources

    return resources.files("policies").joinpath(DEFAULT_POLICY_FILE).read_bytes()


def default_policy() -> ConsortiumPolicy:
    """The default consortium policy, validated."""
    return load_policy(default_policy_bytes())
