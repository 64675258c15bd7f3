"""The hand-written body schemas the typed declarations replaced (issue 14), kept only as the
reference of the differential test: the new schemas must accept nothing this refuses.

Copied from ledger/validation/bodies.py and fields.py as they were, with the crash fixes of
issue 14 item 1 (type checks before membership tests), so the reference itself never raises.
"""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from ledger.canonical import MAX_SAFE_INTEGER
from ledger.entries import KID_RE, ORG_RE, EntryType
from ledger.errors import EntryError, KeyFormatError
from ledger.ids import Digest, Kid, OrgId, PatientRef
from ledger.signing import b64url_decode, kid_of_b64, load_verifying_key, supported_alg
from ledger.state.governance import RULE_K_OF_N, RULES
from ledger.validation.codes import ValidationCode

T = TypeVar("T")

ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
"""Consent and grant ids: no ``/`` (it separates the parts of index keys)."""
CODE_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""Purposes (HL7 ActReason), reasons, roles of requesters, policy versions."""
JOSE_ALG_RE = re.compile(r"[A-Za-z0-9.+_-]{1,64}")
"""A JOSE algorithm name such as ``ECDH-ES+A256KW`` or ``HPKE-9-KE``."""
RESOURCE_RE = re.compile(r"\*|[A-Z][A-Za-z]{0,63}")
"""A FHIR resource type name, or ``*`` for every type."""
HEX64_RE = re.compile(r"[0-9a-f]{64}")
PATIENT_REF_RE = re.compile(r"[A-Za-z0-9_-]{43}")
"""base64url of an HMAC-SHA256: 32 bytes, 43 characters."""
MAX_LIST = 64


def bad(problem: str) -> NoReturn:
    raise EntryError(ValidationCode.BAD_BODY, problem)


def obj(
    value: object, what: str, required: frozenset[str], optional: frozenset[str] = frozenset()
) -> Mapping[str, Any]:
    """An object with all of ``required``, any of ``optional``, and nothing else."""
    if not isinstance(value, dict):
        bad(f"{what} is not an object")
    keys = set(value)
    if not required <= keys or not keys <= required | optional:
        bad(f"{what} fields: need {sorted(required)}, may have {sorted(optional)}")
    return value


def _match(value: object, what: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        bad(f"{what} is not in the expected format")
    return value


def org(value: object, what: str) -> OrgId:
    return OrgId(_match(value, what, ORG_RE))


def kid(value: object, what: str) -> Kid:
    return Kid(_match(value, what, KID_RE))


def ident(value: object, what: str) -> str:
    return _match(value, what, ID_RE)


def code(value: object, what: str) -> str:
    return _match(value, what, CODE_RE)


def jose_alg(value: object, what: str) -> str:
    return _match(value, what, JOSE_ALG_RE)


def resource_type(value: object, what: str) -> str:
    return _match(value, what, RESOURCE_RE)


def hex64(value: object, what: str) -> Digest:
    return Digest(_match(value, what, HEX64_RE))


def patient_ref(value: object, what: str = "patient_ref") -> PatientRef:
    return PatientRef(_match(value, what, PATIENT_REF_RE))


def text(value: object, what: str, max_len: int = 200) -> str:
    """Printable text without control characters (names of organisations and consortia)."""
    if not isinstance(value, str) or not 0 < len(value) <= max_len or not value.isprintable():
        bad(f"{what} is not 1-{max_len} printable characters")
    return value


def ms(value: object, what: str) -> int:
    """Epoch milliseconds."""
    if not isinstance(value, int) or isinstance(value, bool):
        bad(f"{what} is not an integer")
    if not 0 <= value <= MAX_SAFE_INTEGER:
        bad(f"{what} is out of range")
    return value


def one_of(value: object, what: str, choices: frozenset[str]) -> str:
    """One of ``choices``. The type is checked first: a list or an object is unhashable, and a
    membership test on it would raise instead of refusing the entry."""
    if not isinstance(value, str) or value not in choices:
        bad(f"{what} is not one of {sorted(choices)}")
    return value


def boolean(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        bad(f"{what} is not a boolean")
    return value


def items(
    value: object,
    what: str,
    check: Callable[[object, str], T],
    min_len: int = 1,
    max_len: int = MAX_LIST,
) -> list[T]:
    """A list of ``min_len``..``max_len`` distinct items, each passing ``check``."""
    if not isinstance(value, list) or not min_len <= len(value) <= max_len:
        bad(f"{what} is not a list of {min_len}-{max_len} items")
    out = [check(item, f"{what}[{i}]") for i, item in enumerate(value)]
    if len({repr(item) for item in out}) != len(out):
        bad(f"{what} has duplicates")
    return out


def endpoint(value: object, what: str = "endpoint") -> str:
    """An absolute http(s) URL (http for the embedded single-machine demo)."""
    url = text(value, what, 2048)
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced IPv6 bracket, say: a refusal, not a crash
        bad(f"{what} is not an http(s) URL")
    if parts.scheme not in {"https", "http"} or not parts.netloc:
        bad(f"{what} is not an http(s) URL")
    return url


def der_b64url(value: object, what: str) -> str:
    """base64url without padding, as every key and certificate on the ledger is written."""
    if not isinstance(value, str) or not value or len(value) > 16384:
        bad(f"{what} is not base64url")
    try:
        b64url_decode(value)
    except KeyFormatError:
        bad(f"{what} is not unpadded base64url")
    return value


ROLES = frozenset({"hospital", "insurer", "agency"})
DECISIONS = frozenset({"permit", "deny"})
_PRIVATE_JWK = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "priv"})
"""JWK members that hold private key material: a public registry must never carry them."""


def _keys(*names: str) -> frozenset[str]:
    return frozenset(names)


def signing_key(value: object, what: str) -> Mapping[str, Any]:
    """``{kid, pub, alg}``: a loadable key of a registered alg whose thumbprint is ``kid``."""
    key = obj(value, what, _keys("kid", "pub", "alg"))
    kid_ = kid(key["kid"], f"{what}.kid")
    alg = key["alg"]
    if not isinstance(alg, str) or not supported_alg(alg):
        raise EntryError(ValidationCode.UNSUPPORTED_ALG, f"{what}.alg {alg!r} is not registered")
    pub = key["pub"]
    try:
        load_verifying_key(alg, pub if isinstance(pub, str) else "")
        thumbprint = kid_of_b64(pub)
    except KeyFormatError as exc:
        bad(f"{what}.pub: {exc.problem}")
    # compare_digest: kids are digests, and comparing them in constant time costs nothing.
    if not hmac.compare_digest(thumbprint, kid_):
        bad(f"{what}.kid is not the thumbprint of {what}.pub")
    return key


def encryption_key(value: object, what: str) -> Mapping[str, Any]:
    key = obj(value, what, _keys("kid", "alg", "jwk"))
    text(key["kid"], f"{what}.kid", 128)
    jose_alg(key["alg"], f"{what}.alg")
    jwk = key["jwk"]
    if not isinstance(jwk, dict) or not isinstance(jwk.get("kty"), str) or len(jwk) > 16:
        bad(f"{what}.jwk is not a JWK")
    if _PRIVATE_JWK & set(jwk):
        bad(f"{what}.jwk holds private key material")
    return key


def member(value: object, what: str = "member") -> Mapping[str, Any]:
    record = obj(
        value,
        what,
        _keys("org", "role", "name", "endpoint", "signing_keys", "encryption_keys", "ca_chain")
        | {"status"},
    )
    org(record["org"], f"{what}.org")
    one_of(record["role"], f"{what}.role", ROLES)
    text(record["name"], f"{what}.name")
    endpoint(record["endpoint"], f"{what}.endpoint")
    items(record["signing_keys"], f"{what}.signing_keys", signing_key, 1, 8)
    items(record["encryption_keys"], f"{what}.encryption_keys", encryption_key, 0, 8)
    items(record["ca_chain"], f"{what}.ca_chain", der_b64url, 0, 8)
    if record["status"] != "active":
        bad(f"{what}.status of a new member is not 'active'")
    return record


def quorum(value: object, what: str = "quorum") -> Mapping[str, Any]:
    rule = obj(value, what, _keys("rule"), _keys("k"))
    one_of(rule["rule"], f"{what}.rule", RULES)
    if (rule["rule"] == RULE_K_OF_N) != ("k" in rule):
        bad(f"{what}.k is given exactly when the rule is K_OF_N")
    if "k" in rule and ms(rule["k"], f"{what}.k") < 1:
        bad(f"{what}.k is below 1")
    return rule


def policy(value: object, what: str = "policy") -> Mapping[str, Any]:
    doc = obj(value, what, _keys("version", "digest"))
    code(doc["version"], f"{what}.version")
    hex64(doc["digest"], f"{what}.digest")
    return doc


def genesis(body: Mapping[str, Any]) -> None:
    obj(body, "body", _keys("name", "members", "quorum", "policy"))
    text(body["name"], "name")
    founders = items(body["members"], "members", member, 1, 64)
    _unique([m["org"] for m in founders], "members' orgs")
    _unique([k["kid"] for m in founders for k in m["signing_keys"]], "signing kids")
    rule = quorum(body["quorum"])
    if rule.get("k", 0) > len(founders):
        bad("quorum.k exceeds the number of founders")
    policy(body["policy"])


def _unique(values: list[Any], what: str) -> None:
    if len(set(values)) != len(values):
        bad(f"{what} are not unique")


def member_update(body: Mapping[str, Any]) -> None:
    optional = _keys("endpoint", "add_signing_key", "retire_kid", "encryption_keys", "ca_chain")
    obj(body, "body", _keys("org"), optional | _keys("compromised"))
    org(body["org"], "org")
    if not optional & set(body):
        bad("member.update changes nothing")
    if "endpoint" in body:
        endpoint(body["endpoint"])
    if "add_signing_key" in body:
        signing_key(body["add_signing_key"], "add_signing_key")
    if "retire_kid" in body:
        kid(body["retire_kid"], "retire_kid")
        if body.get("add_signing_key", {}).get("kid") == body["retire_kid"]:
            bad("a key cannot be added and retired at once")
    if "encryption_keys" in body:
        items(body["encryption_keys"], "encryption_keys", encryption_key, 0, 8)
    if "ca_chain" in body:
        items(body["ca_chain"], "ca_chain", der_b64url, 0, 8)
    if "compromised" in body:
        boolean(body["compromised"], "compromised")
        if "retire_kid" not in body:
            bad("compromised is given only with retire_kid")


def policy_set(body: Mapping[str, Any]) -> None:
    obj(body, "body", _keys("version", "digest"), _keys("quorum"))
    policy({"version": body["version"], "digest": body["digest"]}, "body")
    if "quorum" in body:
        quorum(body["quorum"])


def consent_grant(body: Mapping[str, Any]) -> None:
    required = _keys("consent_id", "patient_ref", "grantee", "purposes", "resource_types")
    obj(body, "body", required | {"period", "consent_digest"})
    ident(body["consent_id"], "consent_id")
    patient_ref(body["patient_ref"])
    grantee = obj(body["grantee"], "grantee", frozenset(), _keys("org", "role"))
    if not grantee:
        bad("grantee names neither an org nor a role")
    if "org" in grantee:
        org(grantee["org"], "grantee.org")
    if "role" in grantee:
        one_of(grantee["role"], "grantee.role", ROLES)
    items(body["purposes"], "purposes", code)
    items(body["resource_types"], "resource_types", resource_type)
    period = obj(body["period"], "period", frozenset(), _keys("start", "end"))
    start = ms(period["start"], "period.start") if "start" in period else None
    end = ms(period["end"], "period.end") if "end" in period else None
    if start is not None and end is not None and start > end:
        bad("period ends before it starts")
    hex64(body["consent_digest"], "consent_digest")


def grant_issue(body: Mapping[str, Any]) -> None:
    required = _keys("grant_id", "grantee", "resource_types", "purposes", "expires")
    obj(body, "body", required)
    ident(body["grant_id"], "grant_id")
    org(body["grantee"], "grantee")
    items(body["resource_types"], "resource_types", resource_type)
    items(body["purposes"], "purposes", code)
    ms(body["expires"], "expires")


def access_record(body: Mapping[str, Any]) -> None:
    required = _keys("requester", "requester_role", "custodian", "patient_ref", "purpose")
    required |= _keys("resource_types", "decision", "basis", "policy_version", "obligations")
    required |= _keys("break_glass", "decision_digest")
    obj(body, "body", required, ACCESS_OPTIONAL)
    org(body["requester"], "requester")
    code(body["requester_role"], "requester_role")
    org(body["custodian"], "custodian")
    patient_ref(body["patient_ref"])
    code(body["purpose"], "purpose")
    items(body["resource_types"], "resource_types", resource_type)
    one_of(body["decision"], "decision", DECISIONS)
    items(body["basis"], "basis", ident, 0)
    code(body["policy_version"], "policy_version")
    items(body["obligations"], "obligations", code, 0)
    boolean(body["break_glass"], "break_glass")
    hex64(body["decision_digest"], "decision_digest")
    if "envelope_digest" in body:
        hex64(body["envelope_digest"], "envelope_digest")
    if "reason" in body:
        code(body["reason"], "reason")
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
        items(body["requested_types"], "requested_types", resource_type)
    if "consent_ref" in body:
        ident(body["consent_ref"], "consent_ref")
    if "data_period" in body:
        period = obj(body["data_period"], "data_period", frozenset(), _keys("start", "end"))
        start = ms(period["start"], "data_period.start") if "start" in period else None
        end = ms(period["end"], "data_period.end") if "end" in period else None
        if start is not None and end is not None and start > end:
            bad("data_period ends before it starts")
    if "security_labels" in body:
        items(body["security_labels"], "security_labels", code, 0)
    if "break_glass_started" in body:
        ms(body["break_glass_started"], "break_glass_started")
        if body["break_glass"] is not True:
            bad("break_glass_started is given only with break_glass")


def erasure_record(body: Mapping[str, Any]) -> None:
    obj(body, "body", _keys("record_digest", "patient_ref", "reason"))
    hex64(body["record_digest"], "record_digest")
    patient_ref(body["patient_ref"])
    code(body["reason"], "reason")


def _one_id(name: str) -> Callable[[Mapping[str, Any]], None]:
    def check(body: Mapping[str, Any]) -> None:
        obj(body, "body", _keys(name))
        ident(body[name], name)

    return check


def _member_remove(body: Mapping[str, Any]) -> None:
    obj(body, "body", _keys("org"))
    org(body["org"], "org")


def _member_add(body: Mapping[str, Any]) -> None:
    obj(body, "body", _keys("member"))
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
