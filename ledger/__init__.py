"""medgate ledger package."""
