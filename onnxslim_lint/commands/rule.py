"""``onnxslim-lint rule CODE`` and ``rule --all``: a rule's documentation from its class."""

from __future__ import annotations

import json
import sys

from onnxslim_lint.errors import UsageError
from onnxslim_lint.findings import FixAvailability, FixSafety
from onnxslim_lint.model.read_errors import READ_ERRORS, ReadErrorKind
from onnxslim_lint.rules.base import Rule
from onnxslim_lint.rules.file_errors import file_error_explanation
from onnxslim_lint.rules.registry import (
    ALL_RULES,
    FAMILIES,
    default_enabled,
    file_error_by_code_or_name,
    rule_by_code_or_name,
)

__all__ = ["default_line", "file_error_text", "rule_markdown", "rule_text", "run_rule"]


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


def default_line(rule: type[Rule]) -> str:
    """Whether the rule is enforced with no selection configured, and how to turn it on."""
    if rule.opt_in:
        return (
            "Enabled by default: no (opt-in: select it by its code or name, "
            f'`extend-select = ["{rule.code}"]`).'
        )
    if not default_enabled(rule.code):
        family = rule.code[:4]
        return (
            f'Enabled by default: no (select it: `extend-select = ["{family}"]` '
            f'or `["{rule.code}"]`).'
        )
    if rule.code.startswith("OSL3"):
        return (
            "Enabled by default: yes, when its budget is configured (whatever `select` "
            "says; an `ignore` naming it turns it off)."
        )
    return "Enabled by default: yes."


def rule_text(rule: type[Rule]) -> str:
    return (
        f"# {rule.name} ({rule.code})\n\n"
        f"Family: {_family(rule)}\n\n{default_line(rule)}\n\n"
        f"{_fix_line(rule)}\n\n{rule.explanation()}\n"
    )


def file_error_text(kind: ReadErrorKind) -> str:
    return (
        f"# {kind.name} ({kind.code})\n\n"
        f"Family: {FAMILIES['OSL0']}\n\n"
        "Enabled by default: yes (reported whatever `select` says).\n\n"
        "Fix availability: none (the file is reported instead of checked).\n\n"
        f"{file_error_explanation(kind)}"
    )


def rule_markdown(rule: type[Rule]) -> str:
    return rule_text(rule)


def _file_error_dict(kind: ReadErrorKind) -> dict[str, object]:
    return {
        "code": kind.code,
        "name": kind.name,
        "summary": kind.summary,
        "family": FAMILIES["OSL0"],
        "default": True,
        "fix": None,
        "fix_availability": "none",
        "requires": None,
        "fix_title": None,
        "explanation": file_error_explanation(kind),
    }


def _as_dict(rule: type[Rule]) -> dict[str, object]:
    return {
        "code": rule.code,
        "name": rule.name,
        "summary": rule.summary,
        "family": _family(rule),
        "default": default_enabled(rule.code) and not rule.opt_in,
        "fix": rule.safety.value if rule.safety else None,
        "fix_availability": rule.availability.value,
        "requires": rule.requires.describe() or None,
        "fix_title": rule.fix_title,
        "explanation": rule.explanation(),
    }


def run_rule(key: str | None, *, all_rules: bool, output_format: str) -> int:
    """One rule's or file error's explanation, or (``--all``) the file errors then
    every rule, in the order ``docs/rules/`` lists them."""
    items: list[type[Rule] | ReadErrorKind]
    if all_rules:
        items = [*READ_ERRORS.values(), *ALL_RULES]
    elif key is None:
        raise UsageError("give a rule code or name, or --all")
    else:
        found: type[Rule] | ReadErrorKind | None = rule_by_code_or_name(key)
        if found is None:
            found = file_error_by_code_or_name(key)
        if found is None:
            raise UsageError(f"unknown rule '{key}' (see `onnxslim-lint rule --all`)")
        items = [found]
    if output_format == "json":
        data = [
            _file_error_dict(item) if isinstance(item, ReadErrorKind) else _as_dict(item)
            for item in items
        ]
        sys.stdout.write(json.dumps(data if all_rules else data[0], indent=2) + "\n")
    else:
        sys.stdout.write(
            "\n".join(
                file_error_text(item) if isinstance(item, ReadErrorKind) else rule_text(item)
                for item in items
            )
        )
    return 0
