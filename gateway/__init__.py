"""medgate gateway package."""
