"""X.509 material for a member: a self-signed organisation CA and the certificates it issues.

Pure apart from key generation: the validity start is passed in, so tests can build certificates
for any moment. Certificates are short-chained (CA -> leaf) and P-256/ECDSA-SHA256 throughout.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = timedelta(days=3650)
LEAF_VALIDITY = timedelta(days=825)


@dataclass(frozen=True, slots=True)
class IssuedCert:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _name(org: str, purpose: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{org} {purpose}"),
        ]
    )


def make_ca(org: str, not_before: datetime) -> IssuedCert:
    """A self-signed organisation CA (path length 0: it issues leaves only)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(org, "CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return IssuedCert(key, cert)


def issue(
    ca: IssuedCert,
    org: str,
    purpose: str,
    key: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    *,
    tls_hosts: tuple[str, ...] = (),
) -> x509.Certificate:
    """A leaf for ``key``: a signing certificate, or a TLS server/client one when ``tls_hosts`` is set."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(org, purpose))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + LEAF_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if tls_hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_san(host) for host in tls_hosts]), critical=False
        ).add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    return builder.sign(ca.key, hashes.SHA256())


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def subject_name(org: str, purpose: str) -> x509.Name:
    """The subject ``issue`` gives a leaf of ``org`` for ``purpose`` (e.g. to map it to a user)."""
    return _name(org, purpose)
