"""docs/smart-auth.md and docs/operability.md state what the code does: a change to one without
the other fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from gateway.auth import jwks, jwt
from gateway.auth.smart import TOKEN_LIFETIME_SECONDS
from gateway.services.metrics import HELP

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_operability_lists_every_metric_and_no_other() -> None:
    text = (DOCS / "operability.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `(medgate_[a-z_]+)` \|", text, flags=re.MULTILINE))
    assert listed == set(HELP)
    for name, (kind, _) in HELP.items():
        assert re.search(rf"^\| `{name}` \| {kind} \|", text, flags=re.MULTILINE), name


def test_smart_auth_states_the_leeway_algorithms_and_bounds() -> None:
    text = (DOCS / "smart-auth.md").read_text(encoding="utf-8")
    assert f"**{jwt.LEEWAY_SECONDS} seconds**" in text
    assert f"`exp - iat` at most **{jwt.MAX_LIFETIME_SECONDS} s**" in text
    assert f"**{int(jwks.FETCH_TIMEOUT_SECONDS)} s** limit" in text
    assert f"at most **{jwks.MAX_JWKS_BYTES // 1024} KiB**" in text
    assert f"older than **{jwks.MAX_AGE_SECONDS} s**" in text
    assert f"**one fetch per {jwks.MIN_REFETCH_SECONDS} s**" in text
    assert f'"expires_in": {TOKEN_LIFETIME_SECONDS}' in text
    assert f"at most {jwt.MAX_TOKEN_CHARS} characters" in text


def test_the_discovery_example_is_what_the_gateway_serves(client: httpx.Client) -> None:
    text = (DOCS / "smart-auth.md").read_text(encoding="utf-8")
    block = text.split("## 2. Discovery", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    documented = json.loads(block)
    served = client.get("/.well-known/smart-configuration").json()
    for name in ("issuer", "token_endpoint", "authorization_endpoint", "revocation_endpoint"):
        documented.pop(name), served.pop(name)
    assert documented == served
