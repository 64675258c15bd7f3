"""The body parts that describe members and governance: keys, member records, quorum, policy.

Shared by genesis (the founders) and the governance entries (a new member, a rotated key, a new
quorum rule). Checked in the order of the old hand-written schema, so a body with several faults
still gets the code of the first one it would have met there (UNSUPPORTED_ALG before a later
BAD_BODY check, BAD_BODY for any fault of shape).
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, UnsetType

from ledger.canonical import MAX_SAFE_INTEGER
from ledger.errors import EntryError, KeyFormatError
from ledger.signing import kid_of_b64, load_verifying_key, supported_alg
from ledger.state.governance import RULE_K_OF_N
from ledger.validation import fields as f
from ledger.validation.codes import ValidationCode

Role = Literal["hospital", "insurer", "agency"]
PRIVATE_JWK = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "priv"})
"""JWK members that hold private key material: a public registry must never carry them."""


class SigningKey(f.Body):
    """``{kid, pub, alg}``: a loadable key of a registered alg whose thumbprint is ``kid``.

    ``alg`` and ``pub`` are typed loosely on purpose: an alg of any kind that is not registered is
    UNSUPPORTED_ALG (not BAD_BODY), and ``pub`` is judged only once the alg is known."""

    kid: f.Kid
    pub: Any
    alg: Any

    def check(self) -> None:
        if not isinstance(self.alg, str) or not supported_alg(self.alg):
            raise EntryError(
                ValidationCode.UNSUPPORTED_ALG, "a signing key's alg is not registered"
            )
        try:
            load_verifying_key(self.alg, self.pub if isinstance(self.pub, str) else "")
            thumbprint = kid_of_b64(self.pub)
        except KeyFormatError as exc:
            f.bad(f"signing key pub: {exc.problem}")
        # compare_digest: kids are digests, and comparing them in constant time costs nothing.
        if not hmac.compare_digest(thumbprint, self.kid):
            f.bad("a signing key's kid is not the thumbprint of its pub")


class EncryptionKey(f.Body):
    """A public encryption key as a JWK, with its JOSE key-management alg."""

    kid: Annotated[str, Meta(min_length=1, max_length=128)]
    alg: f.JoseAlg
    jwk: Annotated[dict[str, Any], Meta(max_length=16)]

    def check(self) -> None:
        f.printable(self.kid, "encryption key kid")
        if not isinstance(self.jwk.get("kty"), str):
            f.bad("an encryption key's jwk is not a JWK")
        if PRIVATE_JWK & set(self.jwk):
            f.bad("an encryption key's jwk holds private key material")


SigningKeys = Annotated[list[SigningKey], Meta(min_length=1, max_length=8)]
EncryptionKeys = Annotated[list[EncryptionKey], Meta(max_length=8)]
CaChain = Annotated[list[f.Der], Meta(max_length=8)]


class Member(f.Body):
    """A member record as registered: a new member is always ``active``."""

    org: f.Org
    role: Role
    name: f.Name
    endpoint: f.Url
    signing_keys: SigningKeys
    encryption_keys: EncryptionKeys
    ca_chain: CaChain
    status: Literal["active"]

    def check(self) -> None:
        f.printable(self.name, "member name")
        f.endpoint(self.endpoint)
        f.checked(self.signing_keys, "signing_keys")
        f.checked(self.encryption_keys, "encryption_keys")
        f.der_b64url(self.ca_chain, "ca_chain")


class Quorum(f.Body):
    """ALL, MAJORITY, or K_OF_N with its ``k`` (given exactly then)."""

    rule: Literal["ALL", "MAJORITY", "K_OF_N"]
    k: Annotated[int, Meta(ge=1, le=MAX_SAFE_INTEGER)] | UnsetType = UNSET

    def check(self) -> None:
        if (self.rule == RULE_K_OF_N) == isinstance(self.k, UnsetType):
            f.bad("quorum.k is given exactly when the rule is K_OF_N")


class Policy(f.Body):
    """The consortium policy in force: its version and the digest of its document."""

    version: f.Code
    digest: f.Hex64
