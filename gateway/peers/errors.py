"""Errors of the exchange between gateways, rendered by gateway.errors like every GatewayError.

GatewayError (gateway.errors)
 +-- ForbiddenError
 |    +-- AccessDenied       403 the custodian's policy decision denied it (recorded: access_tx)
 +-- PeerRefusal            the custodian's own refusal, relayed with its status and issue code
 +-- BadPeerAnswer          502 the peer answered something that does not verify
 +-- PeerTlsError           502 the peer's endpoint is plain HTTP (refused outside a demo), or its
                                TLS certificate does not verify against its own registered CA
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.errors import ForbiddenError, GatewayError

ACCESS_TX_HEADER = "X-Medgate-Access-Tx"
OBLIGATIONS_HEADER = "X-Medgate-Obligations"


class AccessDenied(ForbiddenError):
    """A recorded denial: names the policy's reasons (rule ids and causes, never data)."""

    def __init__(self, reasons: tuple[str, ...], access_tx: str) -> None:
        super().__init__("access denied by policy: " + ", ".join(reasons))
        self.reasons = reasons
        self.access_tx = access_tx

    def headers(self) -> Mapping[str, str]:
        return {ACCESS_TX_HEADER: self.access_tx}


class PeerRefusal(GatewayError):
    """The custodian refused (4xx/5xx): its status, issue code and diagnostics, passed on."""

    def __init__(
        self,
        status: int,
        code: str,
        diagnostics: str,
        access_tx: str | None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.access_tx = access_tx
        self.retry_after = retry_after

    def headers(self) -> Mapping[str, str]:
        found = {} if self.access_tx is None else {ACCESS_TX_HEADER: self.access_tx}
        if self.retry_after is not None:  # the custodian's throttle: wait as it asked
            found["Retry-After"] = str(self.retry_after)
        return found


class BadPeerAnswer(GatewayError):
    """The peer's answer is malformed, not sealed for us, or not signed by the member we asked."""

    status, code = 502, "exception"


class PeerTlsError(GatewayError):
    """Nothing was sent: the peer's transport is not one we trust (gateway.peers.tls)."""

    status, code = 502, "security"
