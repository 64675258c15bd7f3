"""Free loopback TCP ports for servers the tests start."""

from __future__ import annotations

import socket


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
    for base in range(20000, 60000, count + 7):  # bounded scan
        if all(_free(base + i) for i in range(count)):
            return list(range(base, base + count))
    raise RuntimeError(f"no {count} consecutive free loopback ports")
