"""The schema of each entry type's body: checks that need nothing but the body (phase 1).

A check raises EntryError(BAD_BODY), or UNSUPPORTED_ALG for a key of an unregistered algorithm.
Rules that need state (does the consent exist? who owns it?) live in the per-family rule modules.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

from ledger.entries import EntryType
from ledger.errors import EntryError, KeyFormatError
from ledger.signing import kid_of_b64, load_verifying_key, supported_alg
from ledger.state.governance import RULE_K_OF_N, RULES
from ledger.validation import fields as f
from ledger.validation.codes import ValidationCode

ROLES = frozenset({"hospital", "insurer", "agency"})
DECISIONS = frozenset({"permit", "deny"})
_PRIVATE_JWK = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "priv"})
"""JWK members that hold private key material: a public registry must never carry them."""


def _keys(*names: str) -> frozenset[str]:
    return frozenset(names)


def signing_key(value: object, what: str) -> Mapping[str, Any]:
    """``{kid, pub, alg}``: a loadable key of a registered alg whose thumbprint is ``kid``."""
    key = f.obj(value, what, _keys("kid", "pub", "alg"))
    kid = f.kid(key["kid"], f"{what}.kid")
    alg = key["alg"]
    if not isinstance(alg, str) or not supported_alg(alg):
        raise EntryError(ValidationCode.UNSUPPORTED_ALG, f"{what}.alg {alg!r} is not registered")
    pub = key["pub"]
    try:
        load_verifying_key(alg, pub if isinstance(pub, str) else "")
        thumbprint = kid_of_b64(pub)
    except KeyFormatError as exc:
        f.bad(f"{what}.pub: {exc.problem}")
    # compare_digest: kids are digests, and comparing them in constant time costs nothing.
    if not hmac.compare_digest(thumbprint, kid):
        f.bad(f"{what}.kid is not the thumbprint of {what}.pub")
    return key


def encryption_key(value: object, what: str) -> Mapping[str, Any]:
    key = f.obj(value, what, _keys("kid", "alg", "jwk"))
    f.text(key["kid"], f"{what}.kid", 128)
    f.jose_alg(key["alg"], f"{what}.alg")
    jwk = key["jwk"]
    if not isinstance(jwk, dict) or not isinstance(jwk.get("kty"), str) or len(jwk) > 16:
        f.bad(f"{what}.jwk is not a JWK")
    if _PRIVATE_JWK & set(jwk):
        f.bad(f"{what}.jwk holds private key material")
    return key


def member(value: object, what: str = "member") -> Mapping[str, Any]:
    record = f.obj(
        value,
        what,
        _keys("org", "role", "name", "endpoint", "signing_keys", "encryption_keys", "ca_chain")
        | {"status"},
    )
    f.org(record["org"], f"{what}.org")
    f.one_of(record["role"], f"{what}.role", ROLES)
    f.text(record["name"], f"{what}.name")
    f.endpoint(record["endpoint"], f"{what}.endpoint")
    f.items(record["signing_keys"], f"{what}.signing_keys", signing_key, 1, 8)
    f.items(record["encryption_keys"], f"{what}.encryption_keys", encryption_key, 0, 8)
    f.items(record["ca_chain"], f"{what}.ca_chain", f.der_b64url, 0, 8)
    if record["status"] != "active":
        f.bad(f"{what}.status of a new member is not 'active'")
    return record


def quorum(value: object, what: str = "quorum") -> Mapping[str, Any]:
    rule = f.obj(value, what, _keys("rule"), _keys("k"))
    f.one_of(rule["rule"], f"{what}.rule", RULES)
    if (rule["rule"] == RULE_K_OF_N) != ("k" in rule):
        f.bad(f"{what}.k is given exactly when the rule is K_OF_N")
    if "k" in rule and f.ms(rule["k"], f"{what}.k") < 1:
        f.bad(f"{what}.k is below 1")
    return rule


def policy(value: object, what: str = "policy") -> Mapping[str, Any]:
    doc = f.obj(value, what, _keys("version", "digest"))
    f.code(doc["version"], f"{what}.version")
    f.hex64(doc["digest"], f"{what}.digest")
    return doc


def genesis(body: Mapping[str, Any]) -> None:
    f.obj(body, "body", _keys("name", "members", "quorum", "policy"))
    f.text(body["name"], "name")
    founders = f.items(body["members"], "members", member, 1, 64)
    _unique([m["org"] for m in founders], "members' orgs")
    _unique([k["kid"] for m in founders for k in m["signing_keys"]], "signing kids")
    rule = quorum(body["quorum"])
    if rule.get("k", 0) > len(founders):
        f.bad("quorum.k exceeds the number of founders")
    policy(body["policy"])


def _unique(values: list[Any], what: str) -> None:
    if len(set(values)) != len(values):
        f.bad(f"{what} are not unique")


def member_update(body: Mapping[str, Any]) -> None:
    optional = _keys("endpoint", "add_signing_key", "retire_kid", "encryption_keys", "ca_chain")
    f.obj(body, "body", _keys("org"), optional)
    f.org(body["org"], "org")
    if not optional & set(body):
        f.bad("member.update changes nothing")
    if "endpoint" in body:
        f.endpoint(body["endpoint"])
    if "add_signing_key" in body:
        signing_key(body["add_signing_key"], "add_signing_key")
    if "retire_kid" in body:
        f.kid(body["retire_kid"], "retire_kid")
        if body.get("add_signing_key", {}).get("kid") == body["retire_kid"]:
            f.bad("a key cannot be added and retired at once")
    if "encryption_keys" in body:
        f.items(body["encryption_keys"], "encryption_keys", encryption_key, 0, 8)
    if "ca_chain" in body:
        f.items(body["ca_chain"], "ca_chain", f.der_b64url, 0, 8)


def policy_set(body: Mapping[str, Any]) -> None:
    f.obj(body, "body", _keys("version", "digest"), _keys("quorum"))
    policy({"version": body["version"], "digest": body["digest"]}, "body")
    if "quorum" in body:
        quorum(body["quorum"])


def consent_grant(body: Mapping[str, Any]) -> None:
    required = _keys("consent_id", "patient_ref", "grantee", "purposes", "resource_types")
    f.obj(body, "body", required | {"period", "consent_digest"})
    f.ident(body["consent_id"], "consent_id")
    f.patient_ref(body["patient_ref"])
    grantee = f.obj(body["grantee"], "grantee", frozenset(), _keys("org", "role"))
    if not grantee:
        f.bad("grantee names neither an org nor a role")
    if "org" in grantee:
        f.org(grantee["org"], "grantee.org")
    if "role" in grantee:
        f.one_of(grantee["role"], "grantee.role", ROLES)
    f.items(body["purposes"], "purposes", f.code)
    f.items(body["resource_types"], "resource_types", f.resource_type)
    period = f.obj(body["period"], "period", frozenset(), _keys("start", "end"))
    start = f.ms(period["start"], "period.start") if "start" in period else None
    end = f.ms(period["end"], "period.end") if "end" in period else None
    if start is not None and end is not None and start > end:
        f.bad("period ends before it starts")
    f.hex64(body["consent_digest"], "consent_digest")


def grant_issue(body: Mapping[str, Any]) -> None:
    required = _keys("grant_id", "grantee", "resource_types", "purposes", "expires")
    f.obj(body, "body", required)
    f.ident(body["grant_id"], "grant_id")
    f.org(body["grantee"], "grantee")
    f.items(body["resource_types"], "resource_types", f.resource_type)
    f.items(body["purposes"], "purposes", f.code)
    f.ms(body["expires"], "expires")


def access_record(body: Mapping[str, Any]) -> None:
    required = _keys("requester", "requester_role", "custodian", "patient_ref", "purpose")
    required |= _keys("resource_types", "decision", "basis", "policy_version", "obligations")
    required |= _keys("break_glass", "decision_digest")
    f.obj(body, "body", required, ACCESS_OPTIONAL)
    f.org(body["requester"], "requester")
    f.code(body["requester_role"], "requester_role")
    f.org(body["custodian"], "custodian")
    f.patient_ref(body["patient_ref"])
    f.code(body["purpose"], "purpose")
    f.items(body["resource_types"], "resource_types", f.resource_type)
    f.one_of(body["decision"], "decision", DECISIONS)
    f.items(body["basis"], "basis", f.ident, 0)
    f.code(body["policy_version"], "policy_version")
    f.items(body["obligations"], "obligations", f.code, 0)
    f.boolean(body["break_glass"], "break_glass")
    f.hex64(body["decision_digest"], "decision_digest")
    if "envelope_digest" in body:
        f.hex64(body["envelope_digest"], "envelope_digest")
    if "reason" in body:
        f.code(body["reason"], "reason")
    _access_request_fields(body)


ACCESS_OPTIONAL = frozenset(
    {
        "envelope_digest",
        "reason",
        "requested_types",
        "consent_ref",
        "data_period",
        "security_labels",
        "break_glass_started",
    }
)
"""Optional access.record fields. The request fields (requested types, consent_ref, data period,
security labels, break-glass start) are what a replay of the decision needs beyond the rest."""


def _access_request_fields(body: Mapping[str, Any]) -> None:
    if "requested_types" in body:
        f.items(body["requested_types"], "requested_types", f.resource_type)
    if "consent_ref" in body:
        f.ident(body["consent_ref"], "consent_ref")
    if "data_period" in body:
        period = f.obj(body["data_period"], "data_period", frozenset(), _keys("start", "end"))
        start = f.ms(period["start"], "data_period.start") if "start" in period else None
        end = f.ms(period["end"], "data_period.end") if "end" in period else None
        if start is not None and end is not None and start > end:
            f.bad("data_period ends before it starts")
    if "security_labels" in body:
        f.items(body["security_labels"], "security_labels", f.code, 0)
    if "break_glass_started" in body:
        f.ms(body["break_glass_started"], "break_glass_started")
        if body["break_glass"] is not True:
            f.bad("break_glass_started is given only with break_glass")


def erasure_record(body: Mapping[str, Any]) -> None:
    f.obj(body, "body", _keys("record_digest", "patient_ref", "reason"))
    f.hex64(body["record_digest"], "record_digest")
    f.patient_ref(body["patient_ref"])
    f.code(body["reason"], "reason")


def _one_id(name: str) -> Callable[[Mapping[str, Any]], None]:
    def check(body: Mapping[str, Any]) -> None:
        f.obj(body, "body", _keys(name))
        f.ident(body[name], name)

    return check


def _member_remove(body: Mapping[str, Any]) -> None:
    f.obj(body, "body", _keys("org"))
    f.org(body["org"], "org")


def _member_add(body: Mapping[str, Any]) -> None:
    f.obj(body, "body", _keys("member"))
    member(body["member"])


SCHEMAS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    EntryType.GENESIS: genesis,
    EntryType.MEMBER_ADD: _member_add,
    EntryType.MEMBER_UPDATE: member_update,
    EntryType.MEMBER_REMOVE: _member_remove,
    EntryType.POLICY_SET: policy_set,
    EntryType.CONSENT_GRANT: consent_grant,
    EntryType.CONSENT_REVOKE: _one_id("consent_id"),
    EntryType.GRANT_ISSUE: grant_issue,
    EntryType.GRANT_REVOKE: _one_id("grant_id"),
    EntryType.ACCESS_RECORD: access_record,
    EntryType.ERASURE_RECORD: erasure_record,
}
"""Every known type's schema: a type absent here is UNKNOWN_TYPE."""
