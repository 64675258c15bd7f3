"""The `medgate` command line."""
