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


def free_ports(count: int, *, consecutive: bool = False) -> list[int]:
    """``count`` ports free right now (a later bind can still race another process)."""
    if not consecutive:
        socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
        try:
            for sock in socks:
                sock.bind(("127.0.0.1", 0))
            return [sock.getsockname()[1] for sock in socks]
        finally:
            for sock in socks:
                sock.close()
    # A random start, so that test runs side by side (helpers, CI jobs) do not race for the same
    # block; the scan wraps around once and so stays bounded.
    span = HIGH - LOW - count
    start = random.randrange(span)  # not a secret, only a spread
    for offset in range(0, span, count + 7):
        base = LOW + (start + offset) % span
        if all(_free(base + i) for i in range(count)):
            return list(range(base, base + count))
    raise RuntimeError(f"no {count} consecutive free loopback ports")
