"""A member's production kit (`medgate deploy render`): configs, TLS files and systemd units."""
