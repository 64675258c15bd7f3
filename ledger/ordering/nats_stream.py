"""The consortium's JetStream stream: its name, subject and config, and the pure order checks."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from nats.js.api import ClusterInfo, DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from ledger.errors import OrderingGapError, OrderingMismatchError

DEDUP_HEADER = "Nats-Msg-Id"
DUPLICATE_WINDOW_S = 120.0
"""JetStream drops a repeated Nats-Msg-Id within this window. Beyond it a repeat is ordered again;
the ledger's validation rejects a repeated tx_id anyway (nonce used): the window only saves work."""
MAX_MSG_SIZE = 128 * 1024
"""The ledger caps an entry at 64 KiB; the stream cap leaves headroom for headers and framing."""
MAX_REPLICAS = 5
"""JetStream's limit: a consortium larger than five members replicates on five of its servers."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class StreamNames:
    stream: str
    subject: str


def stream_names(consortium: str) -> StreamNames:
    """Stream ``MEDGATE_<id>`` and subject ``medgate.<id>.ledger`` for a consortium id (a hex tx_id
    in practice). Stream names allow only [A-Za-z0-9_-]: an id with other characters becomes
    ``MEDGATEX_<sanitised>_<digest of the id>`` (a separate prefix), so two different ids never
    share a stream. Requires a non-empty id."""
    if not consortium:
        raise ValueError("consortium id must be non-empty")
    token = _UNSAFE.sub("_", consortium)
    if token == consortium:
        return StreamNames(stream=f"MEDGATE_{token}", subject=f"medgate.{token}.ledger")
    token = f"{token}_{hashlib.sha256(consortium.encode()).hexdigest()[:16]}"
    return StreamNames(stream=f"MEDGATEX_{token}", subject=f"medgatex.{token}.ledger")


def stream_config(names: StreamNames, replicas: int) -> StreamConfig:
    """The ledger stream: replicated file storage, never edited, never silently trimmed.

    Limits retention with no limits keeps every entry; discard NEW makes a full server refuse new
    writes instead of dropping the oldest entries; deny_delete and deny_purge forbid removing any
    message (server permissions must also deny STREAM.DELETE: see deploy/nats/README.md).
    Requires 1 <= replicas <= MAX_REPLICAS."""
    if not 1 <= replicas <= MAX_REPLICAS:
        raise ValueError(f"replicas must be 1..{MAX_REPLICAS}, got {replicas}")
    return StreamConfig(
        name=names.stream,
        description="medgate consortium ledger: ordered signed entries",
        subjects=[names.subject],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        num_replicas=replicas,
        discard=DiscardPolicy.NEW,
        max_msgs=-1,
        max_bytes=-1,
        max_age=0,
        max_msg_size=MAX_MSG_SIZE,
        duplicate_window=DUPLICATE_WINDOW_S,
        deny_delete=True,
        deny_purge=True,
        allow_rollup_hdrs=False,
        allow_direct=True,
    )


def check_next(expected: int, got: int) -> None:
    """A reader expects ``expected`` next; anything else is a gap (or a repeat): fatal."""
    if got != expected:
        raise OrderingGapError(expected=expected, got=got)


def check_resume(after: int, first_seq: int, last_seq: int) -> None:
    """Before reading from ``after`` (the position stored with the last committed block), the stream
    must still hold position after+1 onwards and must not be shorter than what was committed.

    A fresh stream reports first 0 (or 1) and last 0, so it accepts after = 0 only. Requires
    after >= 0."""
    if after < 0:
        raise ValueError(f"position must be >= 0, got {after}")
    if last_seq < after:
        raise OrderingMismatchError(
            after, f"stream ends at {last_seq}: it lost committed entries or was recreated"
        )
    if first_seq > after + 1:
        raise OrderingGapError(expected=after + 1, got=first_seq)


def leader_hears_quorum(cluster: ClusterInfo | None, max_silence_s: float) -> bool:
    """Whether the stream's leader, as its stream info reports, heard a quorum of the stream's
    peers (itself included) within ``max_silence_s``: current, online, active recently. A leader
    cut off from the others keeps answering stream info with its own, possibly stale, tail until it
    steps down; this tells such an answer apart. A stream without cluster info (one server) is
    its own quorum. Requires max_silence_s > 0."""
    if cluster is None:
        return True  # a server without clustering is its own quorum
    if not cluster.leader:
        return False
    replicas = cluster.replicas or []
    limit_ns = max_silence_s * 1e9
    heard = sum(
        1
        for peer in replicas
        if peer.current and not peer.offline and peer.active is not None and peer.active <= limit_ns
    )
    return 1 + heard >= (1 + len(replicas)) // 2 + 1
