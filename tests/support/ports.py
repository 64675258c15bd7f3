"""Free loopback TCP ports for servers the tests start."""

from __future__ import annotations

import random
import socket

LOW, HIGH = 20000, 32000
"""Consecutive ports come from below Linux's ephemeral range (32768 up), where no outgoing
connection is given a port while a test is between finding and binding them."""


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_handed: set[int] = set()
"""Ports this process handed out already: never handed out twice (a caller may bind late)."""


def free_ports(count: int, *, consecutive: bool = False) -> list[int]:
    """``count`` ports free right now, from below the ephemeral range (a later bind can still race
    another test process, never the kernel's choice of a port for an outgoing connection: the
    ports ``bind(0)`` gives are in the ephemeral range, where CI once saw a NATS node lose its
    port to a connection between finding and binding it)."""
    if len(_handed) > (HIGH - LOW) // 3:  # long since bound or given up: forget them
        _handed.clear()
    span = HIGH - LOW - count
    start = random.randrange(span)  # not a secret, only a spread between side-by-side runs
    if not consecutive:
        found: list[int] = []
        for offset in range(span):  # bounded: one pass over the range
            port = LOW + (start + offset * 7919) % span  # a prime stride: spread, no repeats
            if port not in _handed and _free(port):
                found.append(port)
                if len(found) == count:
                    _handed.update(found)
                    return found
        raise RuntimeError(f"no {count} free loopback ports")
    for offset in range(0, span, count + 7):  # bounded scan, wrapping around once
        base = LOW + (start + offset) % span
        block = range(base, base + count)
        if not _handed.intersection(block) and all(_free(port) for port in block):
            _handed.update(block)
            return list(block)
    raise RuntimeError(f"no {count} consecutive free loopback ports")
