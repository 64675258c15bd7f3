"""Calls to other members' gateways (the hot path of the exchange: aiohttp, one pooled session)."""
