"""SMART ``system/<Type>.<read|write|*>`` scopes: parsing, granting, and the per-route check."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

_SCOPE = re.compile(r"^system/(\*|[A-Z][A-Za-z]{0,63})\.(read|write|\*)$")
EXPLICIT_ONLY = frozenset({"PatientToken"})
"""Resources no wildcard reaches, on either side: ``system/PatientToken.write`` (minting patient
tokens) must be both registered for the client and asked for by name. ``system/*.*`` would
otherwise hand every EHR client the power to act as any patient."""


class Action(enum.StrEnum):
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class Scope:
    """One system scope; ``resource`` or ``action`` may be ``*``."""

    resource: str
    action: str

    @classmethod
    def parse(cls, text: str) -> Scope | None:
        """The scope, or None when ``text`` is not a system scope we understand (it is ignored)."""
        match = _SCOPE.fullmatch(text)
        return cls(match.group(1), match.group(2)) if match else None

    def covers(self, other: Scope) -> bool:
        """True when everything ``other`` allows, this allows too."""
        if self.resource == "*" and other.resource in EXPLICIT_ONLY:
            return False
        resource_ok = self.resource in ("*", other.resource)
        action_ok = self.action in ("*", other.action)
        return resource_ok and action_ok

    def allows(self, resource: str, action: Action) -> bool:
        return self.covers(Scope(resource, action.value))

    def __str__(self) -> str:
        return f"system/{self.resource}.{self.action}"


def parse_all(texts: Iterable[str]) -> frozenset[Scope]:
    return frozenset(s for s in (Scope.parse(t) for t in texts) if s is not None)


def grant(requested: Iterable[str], registered: Iterable[str]) -> frozenset[Scope]:
    """Requested ∩ registered, scope by scope: the meet of every requested/registered pair.

    ``system/*.read`` asked by a client registered for ``system/Patient.*`` yields
    ``system/Patient.read``; scopes we do not understand are ignored, never widened.
    """
    allowed = parse_all(registered)
    granted = {
        meet
        for want in parse_all(requested)
        for have in allowed
        if (meet := _meet(want, have)) is not None
    }
    # Drop scopes another granted scope already covers, so the token lists a minimal set.
    return frozenset(s for s in granted if not any(o != s and o.covers(s) for o in granted))


def _meet(a: Scope, b: Scope) -> Scope | None:
    if "*" in (a.resource, b.resource) and {a.resource, b.resource} & EXPLICIT_ONLY:
        return None
    resource = _meet_part(a.resource, b.resource)
    action = _meet_part(a.action, b.action)
    return Scope(resource, action) if resource and action else None


def _meet_part(a: str, b: str) -> str | None:
    if a == "*":
        return b
    return a if b in ("*", a) else None


def allows(granted: Iterable[Scope], resource: str, action: Action) -> bool:
    return any(scope.allows(resource, action) for scope in granted)


def render(scopes: Iterable[Scope]) -> str:
    return " ".join(sorted(str(s) for s in scopes))
