"""Consent terms and grants as the ledger carries them, and the flattening of a FHIR Consent.

`consent.grant` bodies carry flattened terms (grantee, purposes, resource types, period, status,
digest); `grant.issue` bodies carry organisation-to-organisation grants. Both are parsed here
strictly: a malformed body is a FactsError naming the field, never a silent default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.consent import ConsentRecord, Provision, parse_consent
from policies.errors import FactsError
from policies.model import ConsentTerms, Effect, Grant, Period


def terms_from_body(body: Mapping[str, Any]) -> ConsentTerms:
    """A `consent.grant` body to ConsentTerms. Raises FactsError.

    Fields: consent_id, patient_ref, grantee ({"org": id} or {"role": name}; null: anyone),
    purposes, resource_types (empty: any), period ({start, end} epoch ms, half-open, nullable),
    status, consent_digest, and optional effect ("permit" default, "deny" for an opt-out).
    """
    grantee = body.get("grantee")
    org = role = None
    if grantee is not None:
        grantee_map = _map(grantee, "grantee")
        org = _opt_text(grantee_map.get("org"), "grantee.org")
        role = _opt_text(grantee_map.get("role"), "grantee.role")
        if (org is None) == (role is None):
            raise FactsError("grantee", "must name exactly one of org and role")
    effect_text = body.get("effect", "permit")
    if effect_text not in ("permit", "deny"):
        raise FactsError("effect", "must be permit or deny")
    return ConsentTerms(
        consent_id=_text(body.get("consent_id"), "consent_id"),
        patient_ref=_text(body.get("patient_ref"), "patient_ref"),
        grantee_org=org,
        grantee_role=role,
        purposes=frozenset(_texts(body.get("purposes", []), "purposes")),
        resource_types=frozenset(_texts(body.get("resource_types", []), "resource_types")),
        period=_period(body.get("period"), "period"),
        status=_text(body.get("status"), "status"),
        consent_digest=_opt_text(body.get("consent_digest"), "consent_digest"),
        effect=Effect(effect_text),
    )


def terms_to_body(terms: ConsentTerms) -> dict[str, Any]:
    """ConsentTerms back to a `consent.grant` body (the inverse of `terms_from_body`)."""
    grantee = None
    if terms.grantee_org is not None:
        grantee = {"org": terms.grantee_org}
    elif terms.grantee_role is not None:
        grantee = {"role": terms.grantee_role}
    return {
        "consent_id": terms.consent_id,
        "patient_ref": terms.patient_ref,
        "grantee": grantee,
        "purposes": sorted(terms.purposes),
        "resource_types": sorted(terms.resource_types),
        "period": terms.period.to_json(),
        "status": terms.status,
        "consent_digest": terms.consent_digest,
        "effect": terms.effect.value,
    }


def grant_from_body(body: Mapping[str, Any]) -> Grant:
    """A `grant.issue` body to a Grant. Raises FactsError. `revoked` defaults to false."""
    revoked = body.get("revoked", False)
    if not isinstance(revoked, bool):
        raise FactsError("revoked", "must be a boolean")
    return Grant(
        grant_id=_text(body.get("grant_id"), "grant_id"),
        grantor=_text(body.get("grantor"), "grantor"),
        grantee=_text(body.get("grantee"), "grantee"),
        resource_types=frozenset(_texts(body.get("resource_types"), "resource_types")),
        purposes=frozenset(_texts(body.get("purposes"), "purposes")),
        expires=_int(body.get("expires"), "expires"),
        revoked=revoked,
    )


def terms_from_consent(
    consent: Mapping[str, Any], *, patient_ref: str, consent_digest: str | None = None
) -> ConsentTerms:
    """Flatten a FHIR Consent's root provision to ledger terms. Raises FactsError.

    Kept: root type (or the policyRule default), the one consortium recipient (org or role), root
    purposes, root resource-type classes minus those a nested unconditional deny withholds, root
    period, status. Lost (`flattening_losses` names them): other nested exceptions, actions,
    source actors, content codes, security labels, dataPeriod and data references. The custodian
    holding the full Consent still enforces all of it; other custodians see only the terms.
    Refused: a root naming recipients none of which is a consortium party (terms would widen it
    to anyone), or more than one (one `consent.grant` per grantee).
    """
    record = parse_consent(consent, patient_ref)
    root = record.root
    parties = [a for a in root.recipients if a.org is not None or a.role is not None]
    if root.recipients and not parties:
        raise FactsError("provision.actor", "names no consortium organisation or role")
    if len(parties) > 1:
        raise FactsError("provision.actor", "names several grantees; flatten one per grantee")
    grantee = parties[0] if parties else None
    return ConsentTerms(
        consent_id=record.consent_id,
        patient_ref=record.patient_ref,
        grantee_org=None if grantee is None else grantee.org,
        grantee_role=None if grantee is None else grantee.role,
        purposes=root.purposes,
        resource_types=_flat_types(root),
        period=root.period or Period(),
        status=record.status,
        consent_digest=consent_digest,
        effect=root.effect,
    )


def flattening_losses(consent: Mapping[str, Any]) -> tuple[str, ...]:
    """Paths of the conditions `terms_from_consent` drops for this Consent. Raises FactsError."""
    record: ConsentRecord = parse_consent(consent, patient_ref="(not needed)")
    root = record.root
    losses = [f"provision.{name}" for name, present in _data_conditions(root) if present]
    if root.actions:
        losses.append("provision.action")
    if root.sources:
        losses.append("provision.actor (source roles)")
    for i, child in enumerate(root.children):
        if not _is_class_deny(child) or root.classes is None:
            losses.append(f"provision.provision[{i}]")
    return tuple(losses)


def _flat_types(root: Provision) -> frozenset[str]:
    if root.classes is None:
        return frozenset()  # any type: a deny-by-class exception cannot be expressed as terms
    withheld = {t for c in root.children if _is_class_deny(c) for t in c.classes or ()}
    types = root.classes - withheld
    if not types:
        raise FactsError("provision.class", "nested denies withhold every class")
    return types


def _is_class_deny(node: Provision) -> bool:
    """A nested deny whose only condition is its class: it narrows the types whoever asks."""
    plain = not (node.recipients or node.sources or node.actions or node.purposes)
    no_data = not any(present for _, present in _data_conditions(node))
    return (
        node.effect is Effect.DENY
        and node.classes is not None
        and plain
        and no_data
        and node.period is None
        and not node.children
    )


def _data_conditions(node: Provision) -> list[tuple[str, bool]]:
    return [
        ("securityLabel", bool(node.security_labels)),
        ("code", bool(node.codes)),
        ("dataPeriod", node.data_period is not None),
        ("data", bool(node.data)),
    ]


def _period(doc: object, path: str) -> Period:
    if doc is None:
        return Period()
    period = _map(doc, path)
    start = period.get("start")
    end = period.get("end")
    low = None if start is None else _int(start, f"{path}.start")
    high = None if end is None else _int(end, f"{path}.end")
    if low is not None and high is not None and high <= low:
        raise FactsError(path, "end must be after start")
    return Period(low, high)


def _texts(doc: object, path: str) -> list[str]:
    if not isinstance(doc, list):
        raise FactsError(path, "must be a list")
    return [_text(item, f"{path}[{i}]") for i, item in enumerate(doc)]


def _map(doc: object, path: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise FactsError(path, "must be an object")
    return doc


def _int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FactsError(path, "must be an integer (epoch ms)")
    return value


def _text(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise FactsError(path, "must be a non-empty string")
    return value


def _opt_text(value: object, path: str) -> str | None:
    return None if value is None else _text(value, path)
