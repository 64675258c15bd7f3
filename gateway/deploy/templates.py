"""Fill the kit's `{{name}}` templates from deploy/ (pure: text in, text out)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
"""The repository's deploy/ folder: the templates every member's kit is rendered from."""
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


class TemplateError(ValueError):
    """A template names a value that was not given."""


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace every ``{{name}}``; raises TemplateError for a name without a value."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise TemplateError(f"template value missing: {key}")
        return values[key]

    return _PLACEHOLDER.sub(one, template)


def toml_str(value: str) -> str:
    """A TOML basic string (a JSON string literal is one for these characters)."""
    return json.dumps(value)


def toml_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(toml_str(v) for v in values) + "]"


def unit_value(value: str) -> str:
    """A path or name pasted into a systemd unit: refuse what would change its meaning there
    (spaces split ExecStart arguments, % starts a specifier, $ a variable, newlines a new key)."""
    if not value or re.search(r"[\s%$\"'\\;]", value):
        raise TemplateError(f"{value!r} cannot be written into a systemd unit as is")
    return value


def read_template(name: str, deploy_dir: Path = DEPLOY_DIR) -> str:
    return (deploy_dir / name).read_text(encoding="utf-8")
