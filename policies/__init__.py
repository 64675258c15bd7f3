"""medgate policies package."""
