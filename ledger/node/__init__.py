"""The ledger node: the I/O shell around the pure core (ordering in, blocks out to the store)."""
