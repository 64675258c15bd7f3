"""The docs that mirror the code: the operator guide's configuration reference is the one
generated from the Settings model, and the guide's purposes table lists exactly the policy's rules."""

from __future__ import annotations

import re

from gateway.settings import Settings
from gateway.settings_doc import BEGIN, END, render, with_reference
from policies.document import default_policy_bytes, load_policy
from tests.support.demo import ROOT

DOCS = ROOT / "docs"


def test_the_configuration_reference_is_generated_from_the_settings_model() -> None:
    text = (DOCS / "operator-guide.md").read_text(encoding="utf-8")
    assert text == with_reference(text), (
        "docs/operator-guide.md is stale: run `python -m gateway.settings_doc docs/operator-guide.md`"
    )
    block = text[text.index(BEGIN) : text.index(END)]
    tables = {"server", "storage", "ordering", "keys", "clients", "notifications", "patient_auth"}
    for name in Settings.model_fields.keys() - {"config_dir"} - tables:
        assert f"| `{name}` |" in block
    for name in tables:
        assert f"### [{name}]" in block or f"### [[{name}]]" in block


def test_the_reference_names_every_nested_key_and_its_environment_variable() -> None:
    reference = render()
    assert "| `port` | integer | `8401` | `MEDGATE_SERVER__PORT` |" in reference
    assert "### [[clients]]" in reference


def test_the_purposes_table_lists_exactly_the_policy_rules() -> None:
    guide = (DOCS / "integration-guide.md").read_text(encoding="utf-8")
    section = guide.split("## Purposes of use", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| (\w+) \| `([A-Z]+)` \|", section, re.M))
    policy = load_policy(default_policy_bytes())
    assert rows == set(policy.rules)


def test_the_readme_links_resolve_inside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)
    assert "docs/architecture.md" in links
    assert [link for link in links if not (ROOT / link).exists()] == []
    assert "shared/" not in readme
