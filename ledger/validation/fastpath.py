"""Phase 1's fast path: one typed msgspec decode of a whole leaf, for the entries that are valid.

The staged path (``decode_entry``, then the type's body schema) parses with orjson, walks the value
in Python to refuse floats and unsafe integers, checks the envelope by hand, then converts the body.
Here one C pass decodes the leaf into typed structs built from the same declarations (the envelope's
formats, each type's body struct as a tagged variant), and re-encoding it with sorted keys must give
the leaf's bytes back: that refuses duplicate keys, whitespace, key order and escapes as canonical
form does. Typed fields refuse floats and bound integers, so no Python walk is needed.

It only ever *accepts*: anything it does not accept goes to the staged path, which gives the code.
So codes come from one place, and the fast path must accept nothing the staged path refuses (a
test holds them equal on the fuzz corpus). It declines, to stay obviously within that:
- a leaf that is not ASCII (an astral character's key order by UTF-16 needs the reference encoder;
  every format of a fast type's body is ASCII anyway) or holds a ``\\u`` escape (a lone surrogate
  must be refused as the staged parser does);
- a type whose body has a field of any JSON kind (signing keys, JWKs: governance entries, rare),
  where a float or a huge integer could hide from the types.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import Meta, inspect

from ledger.canonical import trusted
from ledger.entries import KID_RE, MAX_ENDORSEMENTS, MAX_LEAF_BYTES, NONCE_RE, ORG_RE, SignedEntry
from ledger.entries import Endorsement as EndorsementValue
from ledger.errors import EntryError
from ledger.ids import Kid, OrgId, TxId
from ledger.signing import supported_alg
from ledger.validation import fields as f
from ledger.validation.registry import REGISTRY
from ledger.validation.spec import EntryTypeSpec


class _Endorsement(msgspec.Struct, forbid_unknown_fields=True):
    kid: str
    org: str
    sig: str


def _anchored(pattern: re.Pattern[str]) -> Meta:
    return Meta(pattern=rf"\A(?:{pattern.pattern})\Z")


def _envelope(spec: EntryTypeSpec) -> type[msgspec.Struct]:
    """The tagged variant of ``tx`` for one type: the envelope's fields and the type's body."""
    fields: list[tuple[str, Any]] = [
        ("alg", str),
        ("body", spec.body),
        ("kid", Annotated[str, _anchored(KID_RE)]),
        ("nonce", Annotated[str, _anchored(NONCE_RE)]),
        ("org", Annotated[str, _anchored(ORG_RE)]),
        ("ts", f.Ms),
        ("v", Literal[1]),
    ]
    name = "Tx_" + spec.name.replace(".", "_")
    return msgspec.defstruct(
        name, fields, tag_field="type", tag=spec.name, forbid_unknown_fields=True
    )


def _holds_any(info: inspect.Type, seen: set[int] | None = None) -> bool:
    """Does the type hold a field of any JSON kind, at any depth?"""
    seen = set() if seen is None else seen
    if isinstance(info, inspect.AnyType):
        return True
    if id(info) in seen:
        return False
    seen.add(id(info))
    return any(_holds_any(child, seen) for child in _children(info))


def _children(info: inspect.Type) -> Iterator[inspect.Type]:
    if isinstance(info, inspect.StructType):
        yield from (field.type for field in info.fields)
    elif isinstance(info, inspect.ListType):
        yield info.item_type
    elif isinstance(info, inspect.DictType):
        yield from (info.key_type, info.value_type)
    elif isinstance(info, inspect.UnionType):
        yield from info.types


_FAST = [spec for spec in REGISTRY.values() if not _holds_any(inspect.type_info(spec.body))]


_VARIANTS = {spec.name: _envelope(spec) for spec in _FAST}
_ENDORSED = frozenset(_VARIANTS[spec.name] for spec in _FAST if spec.endorsed)
_Tx = Union[tuple(_VARIANTS.values())]  # type: ignore[valid-type]  # noqa: UP007 (a union built at run time)
_DECODER = msgspec.json.Decoder(
    msgspec.defstruct(
        "Leaf",
        [
            ("endorsements", Annotated[list[_Endorsement], Meta(max_length=MAX_ENDORSEMENTS)]),
            ("sig", str),
            ("tx", _Tx),
        ],
        forbid_unknown_fields=True,
    )
)
_ENCODER = msgspec.json.Encoder(order="sorted")


def fast_decode(raw: bytes) -> SignedEntry | None:
    """The decoded entry when ``raw`` is a canonical leaf of a fast type that passes every check
    of phase 1 but the signatures; None when the staged path must judge it (refused or not)."""
    # Two C scans, several times cheaper than one regex with an alternation.
    if len(raw) > MAX_LEAF_BYTES or not raw.isascii() or b"\\u" in raw:
        return None
    try:
        leaf: Any = _DECODER.decode(
            raw
        )  # the Leaf struct built above (its type is built at run time)
    except msgspec.DecodeError:  # not JSON, or not of the types (ValidationError derives from it)
        return None
    except RecursionError:  # msgspec's depth limit follows the stack: the staged path's does not
        return None
    if _ENCODER.encode(leaf) != raw:
        return None
    tx = leaf.tx
    if not supported_alg(tx.alg) or (leaf.endorsements and type(tx) not in _ENDORSED):
        return None
    try:
        tx.body.check()
    except EntryError:
        return None
    message = raw[raw.index(b',"tx":') + 6 : -1]
    endorsements = tuple(
        EndorsementValue(OrgId(e.org), Kid(e.kid), e.sig) for e in leaf.endorsements
    )
    tx_id = TxId(hashlib.sha256(message).hexdigest())
    return SignedEntry(trusted(message), leaf.sig, endorsements, tx_id, message)
