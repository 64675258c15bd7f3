"""De-identification of FHIR R4 resources, applied by the gateway under the `deidentify` obligation.

Pure: a resource dict in, a new dict out; the input is not modified. Direct identifiers are removed
or generalised wherever they occur (Bundle entries and contained resources included):
- removed: identifiers (`identifier`, `subscriberId`, `valueIdentifier`), human names, telecom,
  contacts, photos and attachments, narrative and free text (`text`, `note`, `comment`,
  `valueString`, `valueMarkdown`), `display` of references, `meta.source`;
- generalised: addresses keep only `state` and `country` (nothing below the region); `birthDate`
  and `deceasedDateTime` keep only the year;
- references to the person (Patient, Person, RelatedPerson; also as a Bundle entry's `fullUrl`)
  and those resources' ids are replaced by `pseudonym(reference)` when a pseudonym function is
  given (a keyed hash the gateway holds, so one patient's records stay linkable), else removed.
Other dates stay: public health and research need them. Structured clinical codes stay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

PERSON_TYPES = frozenset({"Patient", "Person", "RelatedPerson"})
DROPPED_KEYS = frozenset(
    {
        "identifier",
        "subscriberId",
        "valueIdentifier",
        "telecom",
        "valueContactPoint",
        "contact",
        "photo",
        "attachment",
        "valueAttachment",
        "presentedForm",
        "text",
        "note",
        "comment",
        "valueString",
        "valueMarkdown",
        "valueHumanName",
    }
)
ADDRESS_KEYS = frozenset({"address", "valueAddress", "locationAddress"})
YEAR_KEYS = frozenset({"birthDate", "deceasedDateTime"})
KEPT_ADDRESS_PARTS = ("state", "country")

Pseudonym = Callable[[str], str]


def deidentify(resource: Mapping[str, Any], pseudonym: Pseudonym | None = None) -> dict[str, Any]:
    """A de-identified copy of FHIR R4 `resource` (any type, Bundles included).

    `pseudonym` maps a person reference such as "Patient/123" to an opaque id; it must be keyed
    (HMAC), or the pseudonym is as identifying as the reference.
    """
    cleaned = _clean_object(resource, pseudonym)
    return cleaned if cleaned is not None else {}


def _clean(value: Any, pseudonym: Pseudonym | None) -> Any:
    if isinstance(value, Mapping):
        return _clean_object(value, pseudonym)
    if isinstance(value, list):
        items = [_clean(item, pseudonym) for item in value]
        return [item for item in items if item is not None]
    return value


def _clean_object(obj: Mapping[str, Any], pseudonym: Pseudonym | None) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    is_reference = "reference" in obj or ("display" in obj and "code" not in obj)
    for key, value in obj.items():
        if key in DROPPED_KEYS or (key == "display" and is_reference):
            continue
        if key == "name" and _is_human_name(value):
            continue
        if key in ADDRESS_KEYS:
            kept = _generalise_address(value)
            if kept:
                out[key] = kept
        elif key in YEAR_KEYS and isinstance(value, str):
            out[key] = value[:4]
        elif key in ("reference", "fullUrl") and isinstance(value, str):
            ref = _person_reference(value, pseudonym)
            if ref is not None:
                out[key] = ref
        elif key == "meta" and isinstance(value, Mapping):
            out[key] = {k: v for k, v in value.items() if k != "source"}
        else:
            cleaned = _clean(value, pseudonym)
            if cleaned not in (None, {}, []):
                out[key] = cleaned
    if obj.get("resourceType") in PERSON_TYPES and "id" in obj:
        _pseudonymise_id(out, obj, pseudonym)
    return out or None


def _pseudonymise_id(
    out: dict[str, Any], obj: Mapping[str, Any], pseudonym: Pseudonym | None
) -> None:
    if pseudonym is None:
        del out["id"]
    else:
        out["id"] = pseudonym(f"{obj['resourceType']}/{obj['id']}")


def _person_reference(reference: str, pseudonym: Pseudonym | None) -> str | None:
    """Person references become `<Type>/<pseudonym>` (or go); references to anything else stay."""
    parts = reference.split("/")
    for i in range(len(parts) - 1):
        if parts[i] in PERSON_TYPES:
            if pseudonym is None:
                return None
            return f"{parts[i]}/{pseudonym(f'{parts[i]}/{parts[i + 1]}')}"
    return reference


def _is_human_name(value: object) -> bool:
    names = value if isinstance(value, list) else [value]
    return any(isinstance(n, Mapping) for n in names)


def _generalise_address(value: object) -> Any:
    if isinstance(value, list):
        kept = [_generalise_address(item) for item in value]
        return [k for k in kept if k]
    if not isinstance(value, Mapping):
        return None
    return {k: value[k] for k in KEPT_ADDRESS_PARTS if k in value}
