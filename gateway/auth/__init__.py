"""Authentication: SMART Backend Services for local clients, signed assertions for peer gateways."""
