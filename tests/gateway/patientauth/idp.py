"""A real OpenID Connect provider on a loopback socket for the federation tests: the
``oidc-provider-mock`` package's provider (authlib's server side) under werkzeug's threaded server."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import werkzeug.serving

with warnings.catch_warnings():
    # The provider (test-only) still imports authlib.jose, which authlib deprecates; the
    # gateway's own code uses joserfc and authlib's client only.
    warnings.filterwarnings("ignore", "authlib.jose module is deprecated")
    import oidc_provider_mock

User = oidc_provider_mock.User


@contextmanager
def running_idp(users: Sequence[oidc_provider_mock.User]) -> Iterator[str]:
    """Yield the issuer URL of a provider knowing ``users``, served until exit."""
    app = oidc_provider_mock.app(require_nonce=True, user_claims=users)
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        if thread.is_alive():
            raise RuntimeError("the OIDC provider did not stop")
