"""The one registry of sign-in authenticators: how a patient proves who they are.

An authenticator declares its name (the value in ``patient_auth.authenticators``), the sign-in
page's part for it (a form or a link, carrying the signed authorization request handle), and the
routes that finish it live in gateway.api.patient_auth under ``/patient/authorize/<name>``. Each
ends the same way: a patient_ref the hospital holds, handed to PatientAuthServer.issue_code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from gateway.settings import PatientAuthSettings

INVITATION_PATH = "/patient/authorize/invitation"
OIDC_PATH = "/patient/authorize/oidc"


@dataclass(frozen=True, slots=True)
class Authenticator:
    name: str
    render: Callable[[str], str]
    """The sign-in page's HTML for it, given the request handle (already signed)."""


def _invitation(handle: str) -> str:
    return (
        f'<form method="post" action="{INVITATION_PATH}">'
        f'<input type="hidden" name="request" value="{escape(handle)}">'
        '<label for="code">Invitation code from the hospital</label> '
        '<input id="code" name="code" required autocomplete="one-time-code" '
        'autocapitalize="characters" spellcheck="false" aria-describedby="code-help"> '
        '<p id="code-help">Letters and digits as printed, e.g. ABCD-EFGH-JKLM-NPQR-STUV-WXYZ.</p>'
        '<button type="submit">Sign in</button></form>'
    )


def _oidc(label: str) -> Callable[[str], str]:
    def render(handle: str) -> str:
        return (
            f'<form method="post" action="{OIDC_PATH}">'
            f'<input type="hidden" name="request" value="{escape(handle)}">'
            f'<button type="submit" id="oidc">{escape(label)}</button></form>'
        )

    return render


def enabled(settings: PatientAuthSettings) -> tuple[Authenticator, ...]:
    """The authenticators the settings turn on, in their order."""
    registry: dict[str, Callable[[], Authenticator]] = {
        "invitation": lambda: Authenticator("invitation", _invitation),
        "oidc": lambda: Authenticator("oidc", _oidc(settings.oidc.label if settings.oidc else "")),
    }
    return tuple(registry[name]() for name in settings.authenticators)
