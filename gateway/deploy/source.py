"""Read the member set a kit is rendered for: from the member's ledger store when it holds
committed blocks, else from the genesis (a founder before its first start, or a newcomer right
after `medgate member join`, whose store has not synced yet)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.deploy.members import KitMember, MemberSet, from_genesis, from_state
from gateway.settings import Settings
from ledger.errors import StorageError
from ledger.storage.sql import SqlStore

_SQLITE = "sqlite:///"


class ForeignStoreError(StorageError):
    """The ledger store's genesis is not the config's: it belongs to another consortium."""


def _absent(url: str) -> bool:
    """An SQLite store whose file does not exist (opening it would create it: never on render)."""
    return url.startswith(_SQLITE) and not Path(url[len(_SQLITE) :]).exists()


def _self(settings: Settings) -> KitMember:
    """This member as its own config describes it (a newcomer is not in the genesis)."""
    ca = x509.load_pem_x509_certificate(settings.keys.ca_cert.read_bytes())
    return KitMember(settings.org, settings.public_url, ca.public_bytes(Encoding.DER))


def read_members(settings: Settings, store_url: str | None = None) -> MemberSet:
    """The members of ``settings``' consortium: the committed state of the ledger store at
    ``store_url`` (default: the config's) at its head, or the genesis when that store is absent
    or empty. A store that cannot be read raises StorageError (no silent fallback: a kit
    rendered from the genesis would drop every member added since)."""
    url = store_url or settings.ledger_store_url
    genesis = settings.keys.genesis.read_bytes()
    if not _absent(url):
        try:
            store = SqlStore(url)
        except StorageError as exc:
            raise StorageError(
                "the members are read from the ledger store (storage.ledger_url, or give"
                f" --ledger-store URL), which cannot be opened: {exc}"
            ) from exc
        try:
            head = store.head()
            if head is not None:
                first = store.entries(0, 1)
                if not first or first[0].leaf != genesis:
                    raise ForeignStoreError(
                        "the ledger store does not start with this config's genesis"
                    )
                return from_state(store, head.height)
        finally:
            store.close()
    return from_genesis(genesis, _self(settings))
