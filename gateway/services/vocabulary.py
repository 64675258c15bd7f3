"""Plain words for the codes a patient sees: purposes of use (HL7 v3 ActReason), resource kinds
(FHIR R4 types), decisions and their typed reasons (policies.reasons). Pure.

Every deny and withheld cause of policies.reasons has words here (a test walks the enums), so a
new cause fails the build rather than reaching a patient as a code. A code outside the vocabulary
is shown as itself with "(code)" after it: never hidden, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable

from policies import ReasonError
from policies.reasons import (
    BreakGlassUsed,
    ConsentApplied,
    Denied,
    DenyCause,
    GrantApplied,
    RuleApplied,
    Withheld,
    WithheldCause,
    parse_reason,
)

PURPOSES: dict[str, str] = {
    "TREAT": "your treatment",
    "ETREAT": "emergency treatment",
    "HPAYMT": "paying for your care (insurance claims)",
    "COVAUTH": "checking your insurance cover",
    "CLMATTCH": "supporting an insurance claim",
    "ELIGDTRM": "checking your eligibility for cover",
    "PUBHLTH": "public health",
    "HRESCH": "health research",
    "CLINTRCH": "clinical trial research",
    "PATRQT": "your own request",
    "HOPERAT": "running the health service",
    "PATADMIN": "patient administration",
    "HSYSADMIN": "system administration",
    "HMARKT": "marketing",
    "HLEGAL": "legal requirements",
    "HDIRECT": "a health directory",
    "FAMRQT": "a request by your family",
    "PWATRNY": "a request by your power of attorney",
    "SUPNWK": "a request by your support network",
    "CAREMGT": "coordinating your care",
    "POPHLTH": "population health",
    "TRAIN": "training staff",
}

RESOURCE_KINDS: dict[str, str] = {
    "AllergyIntolerance": "allergies",
    "CarePlan": "care plans",
    "Claim": "insurance claims",
    "ClaimResponse": "claim decisions",
    "Composition": "clinical documents",
    "Condition": "diagnoses",
    "Consent": "consents",
    "Coverage": "insurance cover",
    "DiagnosticReport": "test reports",
    "DocumentReference": "documents",
    "Encounter": "visits",
    "ExplanationOfBenefit": "benefit statements",
    "Immunization": "vaccinations",
    "MedicationRequest": "prescriptions",
    "Observation": "test results and measurements",
    "Organization": "organisations",
    "Patient": "your personal details",
    "Practitioner": "clinicians",
    "Procedure": "procedures",
    "ServiceRequest": "referrals and orders",
    "*": "all kinds of records",
}

DECISIONS: dict[str, str] = {"permit": "shared", "deny": "refused"}

DENY_CAUSES: dict[DenyCause, str] = {
    DenyCause.ERROR: "an error occurred, so nothing was shared",
    DenyCause.UNKNOWN_MEMBER: "the requester is not a member of the consortium",
    DenyCause.NO_POLICY_RULE: "the consortium's rules do not allow this kind of request",
    DenyCause.TYPES_NOT_IN_POLICY: "the consortium's rules never share these kinds of records",
    DenyCause.CONSENT_REF_NOT_APPLICABLE: "the consent the requester named does not apply",
    DenyCause.CONSENT_DENIES: "your consent forbids it",
    DenyCause.NO_CONSENT: "you have not given consent for this",
    DenyCause.NO_GRANT: "the record holder has not authorised this requester",
    DenyCause.NO_CONSENT_OR_GRANT: "neither your consent nor an authorisation allows it",
    DenyCause.NOTHING_PERMITTED: "nothing that was asked for may be shared",
    DenyCause.BREAK_GLASS_NOT_ALLOWED: "emergency access is not allowed for this requester",
    DenyCause.BREAK_GLASS_IN_FUTURE: "the emergency access claimed a start time in the future",
    DenyCause.BREAK_GLASS_EXPIRED: "the emergency access period had ended",
}

WITHHELD_CAUSES: dict[WithheldCause, str] = {
    WithheldCause.POLICY: "the consortium's rules never share them",
    WithheldCause.CONSENT: "your consent forbids it",
    WithheldCause.NO_BASIS: "nothing allows sharing them",
    WithheldCause.UNREFERENCED: "they were not linked to anything shared",
}


def _unknown(code: str) -> str:
    return f"{code} (code)"


def purpose_words(code: str) -> str:
    return PURPOSES.get(code, _unknown(code))


def kind_words(resource_type: str) -> str:
    return RESOURCE_KINDS.get(resource_type, _unknown(resource_type))


def kinds_words(resource_types: Iterable[str]) -> str:
    return ", ".join(kind_words(t) for t in resource_types) or "nothing"


def decision_words(decision: str) -> str:
    return DECISIONS.get(decision, _unknown(decision))


def reason_words(code: str) -> str:
    """Words for one reason code of the closed vocabulary (``deny:no-consent``, ``break-glass``,
    ``consent:<id>``, ...); an unknown code is shown as itself."""
    try:
        reason = parse_reason(code)
    except ReasonError:
        return _unknown(code)
    match reason:
        case Denied(cause=cause):
            return DENY_CAUSES[cause]
        case Withheld(resource_type=rtype, cause=why):
            return f"{kind_words(rtype)} were held back: {WITHHELD_CAUSES[why]}"
        case BreakGlassUsed():
            return "emergency (break-glass) access"
        case ConsentApplied():
            return "allowed by your consent"
        case GrantApplied():
            return "allowed by the record holder's authorisation"
        case RuleApplied(purpose=purpose):
            return f"the consortium's rule for {purpose_words(purpose)}"
    return _unknown(code)


def decision_reason(
    decision: str,
    reason: str | None,
    *,
    by_consent: bool,
    by_grant: bool,
    break_glass: bool = False,
) -> str:
    """Why a decision went the way it did, in words: a denial's recorded reason, or what a
    release rested on (an emergency, one of the patient's consents, a record holder's grant,
    else the rules)."""
    if decision == "deny":
        return reason_words(reason) if reason else "no reason was recorded"
    if break_glass:
        return "allowed as an emergency (break-glass) access"
    if by_consent:
        return "allowed by your consent"
    if by_grant:
        return "allowed by the record holder's authorisation"
    return "allowed by the consortium's rules"
