"""The genesis ceremony's steps as an operator types them (`medgate ...`), for the tests.

``run`` calls the CLI in-process by default; ``subprocess=True`` runs the installed `medgate`.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.cli.main import main
from gateway.identity.files import load_private_key

MEDGATE = str(Path(sys.executable).parent / "medgate")
FOUNDERS = (("hospital-a", "hospital"), ("insurer-b", "insurer"), ("agency-c", "agency"))


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def run(argv: Sequence[str], *, in_process: bool = True) -> Ran:
    """``medgate argv``: its exit code, stdout and stderr."""
    if not in_process:
        done = subprocess.run(
            [MEDGATE, *argv], capture_output=True, text=True, timeout=120, check=False
        )
        return Ran(done.returncode, done.stdout, done.stderr)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Ran(code, out.getvalue(), err.getvalue())


def ok(argv: Sequence[str], *, in_process: bool = True) -> Ran:
    ran = run(argv, in_process=in_process)
    assert ran.code == 0, f"medgate {' '.join(argv)}: {ran.err}"
    return ran


def refused(argv: Sequence[str], problem: str) -> Ran:
    """``medgate argv`` exits non-zero and says ``problem`` on stderr."""
    ran = run(argv)
    assert ran.code != 0, ran.out
    assert problem in ran.err, ran.err
    return ran


def keygen(
    root: Path, org: str, role: str, port: int, *extra: str, in_process: bool = True
) -> Path:
    argv = ["member", "keygen", "--dir", str(root), "--org", org, "--role", role]
    ok([*argv, "--url", f"http://127.0.0.1:{port}", *extra], in_process=in_process)
    return root / org


def config(root: Path, org: str) -> str:
    return str(root / org / "medgate.toml")


def card(root: Path, org: str) -> str:
    return str(root / org / "card.json")


def genesis(
    root: Path, orgs: Sequence[str], out: Path, *extra: str, in_process: bool = True
) -> Ran:
    cards = [arg for org in orgs for arg in ("--card", card(root, org))]
    return ok(["consortium", "genesis", *cards, *extra, "--out", str(out)], in_process=in_process)


def sign(root: Path, org: str, package: Path, out: Path, *, in_process: bool = True) -> Ran:
    argv = ["sign", "--config", config(root, org), str(package), str(out)]
    return ok(argv, in_process=in_process)


def private_material(folder: Path) -> Iterator[bytes]:
    """Every spelling of every private key in a member's folder: PEM files, raw scalars and their
    base64url (a JWK ``d``), the encryption JWK's private members."""
    for pem in [*(folder / "keys").glob("*.key"), *(folder / "clients").glob("*.key")]:
        if pem.name == "patient.key":
            continue  # the consortium's shared key: every founder holds it by design
        yield pem.read_bytes()
        key = load_private_key(pem)
        yield from _scalar(key)
    jwk = json.loads((folder / "keys" / "encryption.jwk.json").read_bytes())
    for name in ("d", "priv"):
        if name in jwk:
            yield jwk[name].encode()
            yield _unb64(jwk[name])


def _scalar(key: ec.EllipticCurvePrivateKey) -> Iterator[bytes]:
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    yield raw
    yield base64.urlsafe_b64encode(raw).rstrip(b"=")
    yield base64.b64encode(raw)
    yield raw.hex().encode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def files_under(folder: Path) -> Iterator[Path]:
    return (path for path in sorted(folder.rglob("*")) if path.is_file())


def spellings(secret: bytes) -> list[bytes]:
    """The ways a raw secret could be written into a file."""
    return [
        secret,
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        base64.b64encode(secret).rstrip(b"="),
        secret.hex().encode(),
    ]
