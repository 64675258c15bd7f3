"""HTTP surface of the gateway: routes, dependencies and ASGI middleware."""
