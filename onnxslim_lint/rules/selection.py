"""ruff's selection of rules, from the catalog alone (no rule module is imported).

Selectors are codes (``OSL101``), prefixes (``OSL1``, ``OSL``), rule names
(``unused-initializer``) or ``ALL``; opt-in rules are selected only by their exact
code or name. Layers (the config file, ``--config``, the command line) resolve as
in ruff; see :func:`enabled_codes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from onnxslim_lint.config import RuleSelection
from onnxslim_lint.errors import UsageError
from onnxslim_lint.model.read_errors import READ_ERRORS
from onnxslim_lint.rules.catalog import CATALOG, entry_named

__all__ = [
    "ALWAYS_REPORTED",
    "DEFAULT_SELECT",
    "default_enabled",
    "enabled_codes",
    "in_registry_order",
    "resolve_selectors",
    "specificity",
    "validate_selection",
]

# Enforced by default: the rules with exact fixes and the report-only rules a user can
# act on, so that `--fix` with the defaults always ends green (as ruff keeps risky
# rules out of its defaults). The fusions (OSL4xx) have numeric fixes that need
# --unsafe-fixes; they run when selected: `extend-select = ["OSL4"]`, or `ALL`.
DEFAULT_SELECT: tuple[str, ...] = ("OSL0", "OSL1", "OSL2", "OSL3")


# Reported whatever ``select`` says: a file that cannot be checked (OSL0xx) and a size
# budget that is configured (OSL3xx; without a budget they find nothing). A ``select``
# never drops them and the broad ignores (``ALL``, ``OSL``) leave them alone; an
# ``ignore`` or ``per-file-ignores`` naming them (``OSL0``, ``OSL3``, ``OSL30``, a code or a
# name) turns them off. A file error turned off is a warning, as ruff does with E902.
ALWAYS_REPORTED: frozenset[str] = frozenset(
    [*READ_ERRORS, entry_named("model-size").code, entry_named("size-growth").code]
)

_ALL = "ALL"
_RULE = 4  # the specificity of an exact code or a name (OSL101 = "OSL" + 3 characters)
_FAMILY = 2  # OSL1: a family prefix


def _all_codes(include_opt_in: bool = False) -> list[str]:
    return [rule.code for rule in CATALOG if include_opt_in or not rule.opt_in]


def _names() -> dict[str, str]:
    names = {rule.name: rule.code for rule in CATALOG}
    names.update({kind.name: kind.code for kind in READ_ERRORS.values()})
    return names


def default_enabled(code: str) -> bool:
    """Whether a rule (or file error) is enforced with no selection configured."""
    return code in enabled_codes(())


def specificity(selector: str) -> int:
    """ruff's order of precedence: ``ALL`` < ``OSL`` < ``OSL1`` < ``OSL10`` < ``OSL101``
    (a name counts as its code). Within one layer the more specific selector wins,
    and at equal specificity ``ignore`` wins."""
    text = selector.strip()
    if text.upper() == _ALL:
        return 0
    if text in _names():
        return _RULE
    return max(1, min(_RULE, len(text) - 2))


def _expand(raw: str, *, what: str, include_opt_in: bool) -> set[str]:
    """The codes one selector stands for (rules and file errors); unknown: UsageError."""
    selector = raw.strip()
    upper = selector.upper()
    if upper == _ALL:
        return set(_all_codes(include_opt_in)) | set(READ_ERRORS)
    names = _names()
    if selector in names:
        return {names[selector]}
    every = [rule.code for rule in CATALOG] + list(READ_ERRORS)
    if upper in every:
        return {upper}
    if upper.startswith("OSL"):
        opt_in = {rule.code for rule in CATALOG if rule.opt_in}
        matched = {code for code in every if code.startswith(upper)}
        if matched:
            return matched if include_opt_in else matched - opt_in
    raise UsageError(
        f"unknown rule selector '{raw}' {what} (codes, prefixes such as OSL1, names, or ALL; "
        "see `onnxslim-lint rule --all`)"
    )


def resolve_selectors(
    selectors: Iterable[str], *, what: str = "selector", include_opt_in: bool = False
) -> set[str]:
    """The rule codes a list of selectors stands for; an unknown selector is a UsageError.

    ``ALL`` and prefixes leave opt-in rules out unless ``include_opt_in`` (used for
    ``fixable``: which rules run is up to ``select``, not to what may be fixed). The
    file-error codes (OSL0xx) are not rules and are never in the result.
    """
    where = what if what.startswith(("in ", "for ")) else f"in {what}"
    codes: set[str] = set()
    for raw in selectors:
        codes |= _expand(raw, what=where, include_opt_in=include_opt_in)
    return codes - set(READ_ERRORS)


def _ignored(raw: str, *, what: str) -> set[str]:
    """What an ignore selector turns off: opt-in rules too; a broad one (``ALL``, ``OSL``)
    leaves the always-reported codes alone."""
    codes = _expand(raw, what=what, include_opt_in=True)
    if specificity(raw) < _FAMILY:
        codes -= ALWAYS_REPORTED
    return codes


def enabled_codes(
    selections: Sequence[RuleSelection], per_file_ignores: Sequence[Sequence[str]] = ()
) -> set[str]:
    """The codes enforced after every layer of selection, as ruff resolves them.

    Starting from the defaults, each layer maps its selectors to on/off in order of
    specificity (``select`` and ``extend_select`` on, then ``ignore`` off, so an
    ignore wins a tie). A layer with ``select`` replaces the set with what it turned
    on, so a command-line ``--select OSL103`` beats the file's ``ignore = ["OSL103"]``;
    a layer without only changes what it names. ``per_file_ignores`` then remove
    codes. The always-reported codes (:data:`ALWAYS_REPORTED`) survive a ``select``.
    Unknown selectors are a UsageError naming the code and where it was given.
    """
    enabled = {
        code for sel in DEFAULT_SELECT for code in _expand(sel, what="", include_opt_in=False)
    }
    carried: tuple[str, ...] = ()
    for layer in selections:
        where = f"in {layer.source}" if layer.source else ""
        ignores, carried = (*layer.ignore, *carried), ()
        updates: dict[str, bool] = {}
        for level in range(_RULE + 1):
            for raw in (*(layer.select or ()), *layer.extend_select):
                if specificity(raw) == level:
                    updates.update(
                        dict.fromkeys(_expand(raw, what=where, include_opt_in=False), True)
                    )
            for raw in ignores:
                if specificity(raw) == level:
                    updates.update(dict.fromkeys(_ignored(raw, what=where), False))
        if layer.select is not None:
            kept = {code for code in enabled & ALWAYS_REPORTED if updates.get(code, True)}
            enabled = {code for code, on in updates.items() if on} | kept
            if not layer.select and not layer.extend_select and layer.ignore:
                carried = layer.ignore  # as in ruff, `select = []` passes its ignores on
        else:
            for code, on in updates.items():
                if on:
                    enabled.add(code)
                else:
                    enabled.discard(code)
    for selectors in per_file_ignores:
        for raw in selectors:
            enabled -= _ignored(raw, what="in per-file-ignores")
    return enabled


def validate_selection(selections: Sequence[RuleSelection]) -> None:
    """Raise a UsageError for the first unknown selector in any layer, naming the code,
    the option and where it was given (``--select``, or ``ignore`` in a file)."""
    for layer in selections:
        keys = (
            ("select", layer.select or ()),
            ("extend-select", layer.extend_select),
            ("ignore", layer.ignore),
        )
        for key, selectors in keys:
            if layer.source == "command line":
                where = f"in --{key}"
            else:
                where = f"in {key} ({layer.source})" if layer.source else f"in {key}"
            for raw in selectors:
                _expand(raw, what=where, include_opt_in=True)


def in_registry_order(codes: Iterable[str]) -> tuple[str, ...]:
    """The rule codes among ``codes``, in the order the registry lists the rules."""
    wanted = set(codes)
    return tuple(rule.code for rule in CATALOG if rule.code in wanted)
