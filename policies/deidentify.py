"""De-identification of FHIR R4 resources under the `Deidentify` obligation (HIPAA Safe Harbor).

Pure: dicts in, new dicts out; the input is not modified. The rules, by Safe Harbor's identifiers:
- every resource id, reference and Bundle `fullUrl` becomes a keyed pseudonym (`pseudonym("Type/id")`,
  a keyed hash only the custodian can compute), the same for the same id within a release, so
  references still resolve inside the Bundle; references into `contained` resources go with them;
- removed wherever they occur: identifiers (any element whose name holds "identifier"), names,
  telecom, contacts, photos, attachments, narrative and free text (`text`, `note`, ...), links,
  signatures, contained resources, element ids, and every other free string: a string survives only
  under an element that holds a code (`STRUCTURAL` below), or as a date;
- generalised: addresses keep `state` and `country`; dates and dateTimes keep the year; instants
  (which cannot hold a bare year) are removed;
- ages over 89 (Safe Harbor: "all ages over 89 and all elements of dates, including year,
  indicative of such age"): a `birthDate` whose year makes the patient 90 or older in the release
  year is removed, and so is the patient's `deceased` date; an `Age` (`unit` "a"/`code` "a") of 90
  or more becomes 90 (the single category "90 or older");
- extensions keep their `url` and what survives of their value; an extension left without a value
  goes; a resource with a `modifierExtension` (whose meaning cannot be kept without its value) and
  the document types whose substance is free text or attachments are withheld whole.
Structured clinical codes and quantities stay: public health and research need them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Pseudonym = Callable[[str], str]
"""Maps "Type/id" (or a `urn:uuid:` reference) to an id-safe opaque value; must be keyed (HMAC)."""

WITHHELD_TYPES = frozenset(
    {
        "Binary",
        "Communication",
        "Composition",
        "DocumentReference",
        "Media",
        "QuestionnaireResponse",
    }
)
DROPPED_KEYS = frozenset(
    {
        "contact",
        "contained",
        "link",
        "name",
        "note",
        "photo",
        "presentedForm",
        "signature",
        "telecom",
        "text",
        "udiCarrier",
    }
)
TYPE_DROPPED_KEYS: Mapping[str, frozenset[str]] = {
    # Coverage.class.value is a plan or group number (Safe Harbor 9) and required in its element.
    "Coverage": frozenset({"class", "dependent", "subscriberId"}),
}
STRUCTURAL = frozenset(
    {
        "category",
        "code",
        "comparator",
        "country",
        "criticality",
        "currency",
        "gender",
        "intent",
        "kind",
        "language",
        "mode",
        "outcome",
        "priority",
        "resourceType",
        "severity",
        "state",
        "status",
        "system",
        "type",
        "unit",
        "use",
        "valueCode",
        "version",
    }
)
"""Elements whose strings are codes from a value set, kept as they are."""
ADDRESS_KEYS = frozenset({"address", "valueAddress", "locationAddress"})
KEPT_ADDRESS_PARTS = ("state", "country")
KEPT_META = ("security", "tag")
INSTANT_KEYS = frozenset({"issued", "lastUpdated", "recorded", "timestamp"})
_DATE = re.compile(r"^(\d{4})(-\d{2}(-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_UUID = "urn:uuid:"


OLDEST_AGE = 90
"""Safe Harbor's top age category: ages from here on are one category, "90 or older"."""


def deidentify(
    resource: Mapping[str, Any], pseudonym: Pseudonym, year: int
) -> dict[str, Any] | None:
    """A de-identified copy of one FHIR R4 resource (a Bundle: see `deidentify_bundle`); None
    when the resource is withheld whole. ``year`` is the release's calendar year (the caller's
    clock: this module reads none), against which ages are judged."""
    if resource.get("resourceType") == "Bundle":
        return deidentify_bundle(resource, pseudonym, year)
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or rtype in WITHHELD_TYPES or _has_modifier(resource):
        return None
    dropped = TYPE_DROPPED_KEYS.get(rtype, frozenset())
    body = _object({k: v for k, v in resource.items() if k not in dropped}, pseudonym, False)
    out: dict[str, Any] = {"resourceType": rtype}
    rid = resource.get("id")
    if isinstance(rid, str):
        out["id"] = pseudonym(f"{rtype}/{rid}")
    return _cap_ages(out | (body or {}), year)


def deidentify_bundle(bundle: Mapping[str, Any], pseudonym: Pseudonym, year: int) -> dict[str, Any]:
    """The Bundle with each entry's resource de-identified (withheld ones leave, `total` recounted)
    and its `fullUrl` pseudonymised like the references to it. Requires a Bundle."""
    entries = []
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            continue
        cleaned = deidentify(resource, pseudonym, year)
        if cleaned is None:
            continue
        url = _full_url(entry.get("fullUrl"), resource, pseudonym)
        entries.append(({"fullUrl": url} if url else {}) | {"resource": cleaned})
    out: dict[str, Any] = {"resourceType": "Bundle", "type": bundle.get("type", "collection")}
    if "total" in bundle:
        out["total"] = len(entries)
    out["entry"] = entries
    return out


def _full_url(url: object, resource: Mapping[str, Any], pseudonym: Pseudonym) -> str | None:
    """`<base>/<Type>/<pseudonym>` for a RESTful fullUrl of the entry's resource (the base is the
    custodian's server), the mapped urn for a `urn:uuid:`, else none."""
    if not isinstance(url, str):
        return None
    if url.startswith(_UUID):
        return _reference(url, pseudonym)
    rtype, rid = resource.get("resourceType"), resource.get("id")
    tail = f"/{rtype}/{rid}"
    if isinstance(rid, str) and url.startswith(("http://", "https://")) and url.endswith(tail):
        return f"{url[: -len(tail)]}/{rtype}/{pseudonym(f'{rtype}/{rid}')}"
    return None


def _reference(reference: str, pseudonym: Pseudonym) -> str | None:
    """`Type/<pseudonym>` for a relative or absolute reference; urns map to urns; else None."""
    if reference.startswith(_UUID):
        digits = pseudonym(reference).ljust(32, "0")[:32]
        return f"{_UUID}{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
    parts = reference.split("/_history/")[0].split("/")
    if len(parts) < 2 or not _TYPE.match(parts[-2]) or not parts[-1]:
        return None  # a contained "#id", a logical urn: nothing that resolves once pseudonymised
    return f"{parts[-2]}/{pseudonym(f'{parts[-2]}/{parts[-1]}')}"


def _has_modifier(value: Any) -> bool:
    stack = [value]
    while stack:  # bounded by the size of the parsed document
        item = stack.pop()
        if isinstance(item, Mapping):
            if "modifierExtension" in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _object(obj: Mapping[str, Any], pseudonym: Pseudonym, extension: bool) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in DROPPED_KEYS or "identifier" in key.lower() or key == "id":
            continue  # resource ids are set by the caller; element ids are free strings
        if key in ADDRESS_KEYS:
            kept: Any = _address(value)
        elif key == "meta" and isinstance(value, Mapping):
            kept = _object({k: value[k] for k in KEPT_META if k in value}, pseudonym, False)
        elif key == "reference" and isinstance(value, str):
            kept = _reference(value, pseudonym)
        elif key == "extension":
            kept = _extensions(value, pseudonym)
        else:
            kept = _value(key, value, pseudonym, extension and key == "url")
        if kept not in (None, {}, []):
            out[key] = kept
    return out or None


def _value(key: str, value: Any, pseudonym: Pseudonym, keep_url: bool) -> Any:
    if isinstance(value, Mapping):
        return _object(value, pseudonym, False)
    if isinstance(value, list):
        items = [_value(key, item, pseudonym, False) for item in value]
        return [item for item in items if item not in (None, {}, [])]
    if isinstance(value, str):
        return _string(key, value, keep_url)
    return value  # numbers and booleans: measurements, sequences, flags


def _string(key: str, value: str, keep_url: bool) -> str | None:
    if key in STRUCTURAL or keep_url:
        return value
    match = _DATE.match(value)
    if match is None or key in INSTANT_KEYS or key.endswith("Instant"):
        return None  # a free string, or an instant that cannot hold a bare year
    return match.group(1)


def _extensions(value: Any, pseudonym: Pseudonym) -> list[dict[str, Any]]:
    """Extensions that still carry a value (or nested extensions) once cleaned."""
    out = []
    for item in value if isinstance(value, list) else ():
        if not isinstance(item, Mapping):
            continue
        cleaned = _object(item, pseudonym, True) or {}
        if "url" in cleaned and any(k.startswith("value") or k == "extension" for k in cleaned):
            out.append(cleaned)
    return out


def _address(value: Any) -> Any:
    if isinstance(value, list):
        kept = [_address(item) for item in value]
        return [k for k in kept if k]
    if not isinstance(value, Mapping):
        return None
    return {k: value[k] for k in KEPT_ADDRESS_PARTS if isinstance(value.get(k), str)}


def _cap_ages(resource: dict[str, Any], year: int) -> dict[str, Any]:
    """Safe Harbor's ages over 89, on an already de-identified resource (dates are bare years)."""
    born = resource.get("birthDate")
    if isinstance(born, str) and born.isdigit() and year - int(born) >= OLDEST_AGE:
        # Born that year, the patient is 89 or 90 by the release year's end: the year alone
        # cannot rule out 90, so it is indicative of such an age.
        del resource["birthDate"]
        for key in [k for k in resource if k.startswith("deceased") and k != "deceasedBoolean"]:
            del resource[key]
    for key, item in resource.items():
        resource[key] = _cap_age_values(item)
    return resource


def _cap_age_values(value: Any) -> Any:
    """Every FHIR Age in years (`unit`/`code` "a", as UCUM writes years) capped at 90."""
    if isinstance(value, list):
        return [_cap_age_values(item) for item in value]
    if not isinstance(value, dict):
        return value
    years = value.get("value")
    in_years = "a" in (value.get("code"), value.get("unit"))
    if in_years and isinstance(years, int | float) and years >= OLDEST_AGE:
        value["value"] = OLDEST_AGE
        value["comparator"] = ">="
    for key, item in value.items():
        value[key] = _cap_age_values(item)
    return value
