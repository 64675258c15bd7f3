"""The member config file that `medgate init` writes (TOML; read back by gateway.settings)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit


def _s(value: str) -> str:
    # A JSON string literal is a valid TOML basic string for the characters used here.
    return json.dumps(value)


NOT_JOINED = "  # set by `medgate member join` once the genesis is sealed"


def render_config(
    org: str,
    role: str,
    consortium: str,
    public_url: str,
    *,
    genesis: str = "../consortium/genesis.json",
) -> str:
    """The config of one member, every path relative to the config file's folder. An empty
    ``consortium`` is a member that has not joined yet (its gateway refuses to start)."""
    port = urlsplit(public_url).port or 8401
    note = "" if consortium else NOT_JOINED
    transport = _transport(public_url)
    return f"""# medgate gateway of {org}: written by medgate. Paths are relative to this file.
org = {_s(org)}
role = {_s(role)}
consortium = {_s(consortium)}{note}
public_url = {_s(public_url)}

[server]
host = "127.0.0.1"
port = {port}
max_body_bytes = 20971520
{transport}
[storage]
url = "sqlite:///data/gateway.db"
ledger_url = "sqlite:///data/ledger.db"

[ordering]
backend = "solo"
solo_path = "../consortium/ordering.db"
nats_servers = []

[keys]
signing_key = "keys/signing.key"
encryption_key = "keys/encryption.jwk.json"
ca_cert = "keys/ca.pem"
ca_key = "keys/ca.key"
cert = "keys/signing.pem"
patient_key = "keys/patient.key"
genesis = {_s(genesis)}
token_key = "keys/token.key"

[[clients]]
client_id = "ehr"
jwks_path = "clients/ehr.jwks.json"
scopes = ["system/*.read", "system/*.write"]

# The operator's tool (medgate propose / proposals / endorse): governance needs Ledger.write by name.
[[clients]]
client_id = "operator"
jwks_path = "clients/operator.jwks.json"
scopes = ["system/Ledger.read", "system/Ledger.write"]
"""


def _transport(public_url: str) -> str:
    """A loopback http:// consortium says so explicitly; an https:// one names its TLS files
    (issued by `medgate init` for the URL's host)."""
    if urlsplit(public_url).scheme == "http":
        return (
            "# One machine, loopback only: plain HTTP. Production serves HTTPS (docs/deployment.md).\n"
            "allow_plain_http = true\n"
        )
    return 'tls_cert = "keys/tls.pem"\ntls_key = "keys/tls.key"\n'
