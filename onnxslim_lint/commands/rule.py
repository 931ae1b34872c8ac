"""``onnxslim-lint rule CODE`` and ``rule --all``: a rule's documentation from its class."""

from __future__ import annotations

import json
import sys

from onnxslim_lint.errors import UsageError
from onnxslim_lint.findings import FixAvailability, FixSafety
from onnxslim_lint.rules.base import Rule
from onnxslim_lint.rules.registry import ALL_RULES, FAMILIES, rule_by_code_or_name

__all__ = ["rule_markdown", "rule_text", "run_rule"]


_SAFETY_WORDS = {
    FixSafety.EXACT: "exact (bit-identical outputs)",
    FixSafety.NUMERIC: "numeric (outputs within tolerance; needs --unsafe-fixes)",
}


def _fix_line(rule: type[Rule]) -> str:
    """Fix availability and fix safety, as the rule declares them (ruff's two facts)."""
    if rule.availability is FixAvailability.NONE or rule.safety is None:
        line = "Fix availability: none (reported only)."
    else:
        line = (
            f"Fix availability: {rule.availability.value}. "
            f"Fix safety: {_SAFETY_WORDS[rule.safety]}."
        )
    requires = rule.requires.describe()
    return f"{line}\n\nRequires: {requires}." if requires else line


def _family(rule: type[Rule]) -> str:
    return FAMILIES.get(rule.code[:4], "")


def rule_text(rule: type[Rule]) -> str:
    return (
        f"# {rule.name} ({rule.code})\n\n"
        f"Family: {_family(rule)}\n\n{_fix_line(rule)}\n\n{rule.explanation()}\n"
    )


def rule_markdown(rule: type[Rule]) -> str:
    return rule_text(rule)


def _as_dict(rule: type[Rule]) -> dict[str, object]:
    return {
        "code": rule.code,
        "name": rule.name,
        "summary": rule.summary,
        "family": _family(rule),
        "fix": rule.safety.value if rule.safety else None,
        "fix_availability": rule.availability.value,
        "requires": rule.requires.describe() or None,
        "fix_title": rule.fix_title,
        "explanation": rule.explanation(),
    }


def run_rule(key: str | None, *, all_rules: bool, output_format: str) -> int:
    if all_rules:
        rules = list(ALL_RULES)
    elif key is None:
        raise UsageError("give a rule code or name, or --all")
    else:
        found = rule_by_code_or_name(key)
        if found is None:
            raise UsageError(f"unknown rule '{key}' (see `onnxslim-lint rule --all`)")
        rules = [found]
    if output_format == "json":
        data = [_as_dict(rule) for rule in rules]
        sys.stdout.write(json.dumps(data if all_rules else data[0], indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(rule_text(rule) for rule in rules))
    return 0
