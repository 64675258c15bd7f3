"""Runs the worked examples of docs/integration-guide.md against a demo consortium.

The guide's fenced blocks are executable: an ``http`` block is a request (``METHOD URL``, headers,
a blank line, the body) and the ``http-response`` block after it is what must come back: the
status, each header named (a value without ``<...>`` must prefix the actual one), and a JSON body
whose keys must all be present with equal values, ``"<...>"`` standing for any value and a list
element matching any element of the actual list. A ``python`` block runs with ``response`` (the
last JSON body), ``genesis`` (the consortium's genesis.json bytes), ``patient_key`` (the
consortium's patient-pseudonym key) and ``demo_dir`` (the demo's folder) and must not raise.

The guide's URLs use the demo's default ports (hospital-a 8401 ... agency-d 8404); they are
rewritten to the test demo's. ``$TOKEN`` is a SMART access token of the EHR client of the member
the request goes to, ``$CLIENT_ASSERTION`` a fresh client assertion of that client, and
``$PATIENT_TOKEN`` a patient token of MRN-0001 at hospital-a, from a real sign-in (an invitation
code, then the authorization code + PKCE flow).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from gateway.auth import jwt
from gateway.auth.keys import kid_of, load_p256_private
from gateway.demo.synthetic import MRN_SYSTEM
from gateway.identity.pseudonym import load_patient_key
from gateway.settings import Settings
from tests.gateway.patientauth.flow import signed_in
from tests.support.demo import MEMBERS, ServingDemo

BLOCK = re.compile(r"^```(http|http-response|python)\n(.*?)^```", re.S | re.M)
DOC_PORT = re.compile(r"http://127\.0\.0\.1:84(0[1-4])")
PLACEHOLDER = re.compile(r"<[^<>]*>")


@dataclass
class Example:
    kind: str
    text: str
    line: int


def examples(markdown: str) -> list[Example]:
    return [
        Example(m.group(1), m.group(2), markdown.count("\n", 0, m.start()) + 1)
        for m in BLOCK.finditer(markdown)
    ]


@dataclass
class Runner:
    demo: ServingDemo
    http: httpx.Client
    tokens: dict[str, str] = field(default_factory=dict)
    patient_token: str = ""
    last: Any = None

    def org_of(self, url: str) -> str:
        port = int(url.split(":")[2].split("/")[0])
        return MEMBERS[port - self.demo.base_port]

    def assertion(self, org: str) -> str:
        key = load_p256_private(self.demo.root / org / "clients" / "ehr.key")
        now = int(time.time())
        claims = {
            "iss": "ehr",
            "sub": "ehr",
            "aud": f"{self.demo.url(org)}/auth/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        return jwt.sign(claims, key, kid_of(key.public_key()))

    def token(self, org: str) -> str:
        if org not in self.tokens:
            form = {
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": self.assertion(org),
                "scope": "system/*.read system/*.write",
            }
            answer = self.http.post(f"{self.demo.url(org)}/auth/token", data=form)
            assert answer.status_code == 200, answer.text
            self.tokens[org] = answer.json()["access_token"]
        return self.tokens[org]

    def sign_in_patient(self, value: str = "MRN-0001") -> str:
        settings = Settings.load(self.demo.root / "hospital-a" / "medgate.toml")
        with httpx.Client(base_url=self.demo.url("hospital-a"), timeout=30) as http:
            token: str = signed_in(http, settings, MRN_SYSTEM, value)["access_token"]
        return token

    def localized(self, text: str) -> str:
        """``text`` with the guide's demo URLs moved to this demo's ports."""
        return DOC_PORT.sub(lambda m: self.demo.url(MEMBERS[int(m.group(1)) - 1]), text)

    def send(self, request: str) -> httpx.Response:
        request = self.localized(request)
        head, _, body = request.partition("\n\n")
        first, *lines = head.splitlines()
        method, url = first.split(" ", 1)
        org = self.org_of(url)
        body = body.replace("$CLIENT_ASSERTION", self.assertion(org)) if body else body
        headers = {}
        for line in lines:
            name, value = line.split(":", 1)
            if "$PATIENT_TOKEN" in value and not self.patient_token:
                self.patient_token = self.sign_in_patient()
            value = value.strip().replace("$PATIENT_TOKEN", self.patient_token)
            headers[name] = value.replace("$TOKEN", self.token(org)) if "$TOKEN" in value else value
        answer = self.http.request(method, url, headers=headers, content=body.strip().encode())
        if answer.headers.get("content-type", "").endswith("json") and answer.content:
            self.last = answer.json()
            if url.endswith("/patient/token") and answer.status_code == 200:
                self.patient_token = self.last["access_token"]
        return answer

    def check(self, expected: str, answer: httpx.Response) -> None:
        head, _, body = self.localized(expected).partition("\n\n")
        first, *lines = head.splitlines()
        assert answer.status_code == int(first.split()[1]), answer.text[:2000]
        for line in lines:
            name, value = (part.strip() for part in line.split(":", 1))
            assert name.lower() in answer.headers, name
            if not PLACEHOLDER.search(value):
                assert answer.headers[name].startswith(value), (name, answer.headers[name])
        if body.strip():
            mismatch = shape_mismatch(orjson.loads(body), answer.json(), "$")
            assert mismatch is None, mismatch

    def python(self, code: str) -> None:
        names = {
            "demo_dir": self.demo.root,
            "response": self.last,
            "genesis": (self.demo.root / "consortium" / "genesis.json").read_bytes(),
            "patient_key": load_patient_key(
                (self.demo.root / "hospital-a" / "keys" / "patient.key").read_bytes()
            ),
        }
        exec(compile(self.localized(code), "integration-guide", "exec"), names)  # noqa: S102 - the guide's example


def shape_mismatch(doc: Any, actual: Any, where: str) -> str | None:
    """Where the documented value and the actual one differ (None when they agree)."""
    if isinstance(doc, str) and PLACEHOLDER.fullmatch(doc):
        return None
    if isinstance(doc, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected an object"
        for key, value in doc.items():
            if key not in actual:
                return f"{where}.{key}: missing"
            found = shape_mismatch(value, actual[key], f"{where}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(doc, list):
        if not isinstance(actual, list):
            return f"{where}: expected a list"
        for i, item in enumerate(doc):
            if all(shape_mismatch(item, a, where) is not None for a in actual):
                return f"{where}[{i}]: no element matches {item!r}"
        return None
    return None if doc == actual else f"{where}: documented {doc!r}, got {actual!r}"


def run_guide(path: Path, runner: Runner) -> int:
    """Runs every example in order; returns how many ran. Fails naming the guide's line."""
    blocks = examples(path.read_text(encoding="utf-8"))
    answer: httpx.Response | None = None
    for block in blocks:
        try:
            if block.kind == "http":
                answer = runner.send(block.text)
            elif block.kind == "http-response":
                assert answer is not None, "a response block with no request before it"
                runner.check(block.text, answer)
                answer = None
            else:
                runner.python(block.text)
        except AssertionError as exc:
            raise AssertionError(f"{path.name} line {block.line}: {exc}") from exc
    return len(blocks)
