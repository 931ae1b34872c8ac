"""Configuration: find, parse and validate ``[tool.onnxslim-lint]``.

Settings come from the nearest ``.onnxslim-lint.toml``, ``onnxslim-lint.toml`` or
``pyproject.toml`` (with a ``[tool.onnxslim-lint]`` table) found by walking up from
a start directory, as ruff does. Values from the command line are layered on top
with :func:`apply_overrides`; ``--config "KEY = VALUE"`` text goes through
:func:`parse_config_override`, which validates exactly like a file.

Every mistake in a file is a :class:`~onnxslim_lint.errors.ConfigError` that names
the file, the key and what was expected. Rule selectors are kept as plain strings:
the rule registry validates them.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from onnxslim_lint import __version__
from onnxslim_lint.errors import ConfigError, UsageError
from onnxslim_lint.findings import DOCS_URL
from onnxslim_lint.sizes import SIZE_HELP, parse_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    # mypy checks this branch (python_version 3.10) where tomli is installed only on 3.10.
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "CONFIG_FILE_NAMES",
    "DOCS_URL",
    "OUTPUT_FORMATS",
    "BudgetSettings",
    "Limits",
    "RuleSelection",
    "Settings",
    "VerifyOverride",
    "VerifySettings",
    "add_selection",
    "apply_overrides",
    "budget_settings",
    "find_config_file",
    "load_settings",
    "parse_config_override",
    "settings_for",
    "verify_settings_for",
]

TOOL_NAME = "onnxslim-lint"

#: Checked in this order within one directory; the first one that applies wins.
CONFIG_FILE_NAMES: tuple[str, ...] = (".onnxslim-lint.toml", "onnxslim-lint.toml", "pyproject.toml")

OUTPUT_FORMATS: tuple[str, ...] = (
    "concise",
    "full",
    "json",
    "json-lines",
    "github",
    "gitlab",
    "sarif",
    "junit",
)

#: Sections owned by other modules: kept raw in ``Settings.extra`` and validated there.
EXTRA_SECTIONS: tuple[str, ...] = ("budget",)


def _empty_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


class _FrozenMap(Mapping[Any, Any]):
    """A read-only, hashable copy of a mapping (keeps settings frozen and picklable)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = ()) -> None:
        self._data = dict(data)

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_FrozenMap, (self._data,))


@dataclass(frozen=True)
class VerifyOverride:
    """One ``[[verify.overrides]]`` entry: the verify settings it changes for the
    models matching one of ``files`` (globs, as ``per-file-ignores`` takes them).

    ``changes`` holds VerifySettings field names; ``dims``, ``shapes`` and ``values``
    are merged into the ones already in force, every other key replaces.
    """

    files: tuple[str, ...]
    changes: Mapping[str, Any]

    def __post_init__(self) -> None:
        frozen = {
            name: _FrozenMap(_freeze_items(value)) if isinstance(value, Mapping) else value
            for name, value in self.changes.items()
        }
        object.__setattr__(self, "files", tuple(self.files))
        object.__setattr__(self, "changes", _FrozenMap(frozen))


def _freeze_items(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A parsed sub-table's items as hashable data (arrays become nested tuples)."""
    return {
        key: _frozen_value(value) if isinstance(value, (list, tuple)) else value
        for key, value in mapping.items()
    }


#: Mapping fields an override merges into instead of replacing.
_MERGED_VERIFY_FIELDS = ("dims", "shapes", "values")


@dataclass(frozen=True)
class VerifySettings:
    """How fixes are checked with onnxruntime (the ``verify`` sub-table): how inputs
    are generated and outputs compared, and the limits of the onnxruntime run.

    ``dims`` gives values to symbolic dims by ``dim_param`` name, ``shapes`` gives
    full shapes by graph input name (it wins over ``dims``); any other dynamic dim
    is ``default_dim``. ``values`` fixes an input's values (a number fills it, an
    array is the tensor). ``inputs`` names sample inputs (a ``.npz`` or ``.npy``
    file, or a folder of ``test_data_set_*`` / ``.npz`` files) used instead of
    generated ones. ``custom_op_libraries`` are loaded into every session.
    ``timeout`` (seconds) and ``memory_limit`` (bytes) bound the onnxruntime child
    process; ``None`` sizes them from the model.
    ``max_input_size`` caps the bytes of one sample's generated inputs.
    ``overrides`` apply per file (:func:`verify_settings_for`). Paths are absolute
    once loaded from a file (relative ones are taken from the config file's
    folder). Mappings are copied into read-only, hashable maps.
    ``enabled = false`` turns verification off, as ``--no-verify`` does.
    """

    samples: int = 3
    seed: int = 0
    rtol: float = 1e-4
    atol: float = 1e-5
    dims: Mapping[str, int] = field(default_factory=dict)
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)
    default_dim: int = 2
    enabled: bool = True
    inputs: str | None = None
    custom_op_libraries: tuple[str, ...] = ()
    timeout: float | None = None
    memory_limit: int | None = None
    max_input_size: int = 512 * 1024 * 1024
    overrides: tuple[VerifyOverride, ...] = ()

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        if self.rtol < 0 or self.atol < 0 or math.isnan(self.rtol) or math.isnan(self.atol):
            raise ValueError(f"rtol and atol must be >= 0, got {self.rtol}, {self.atol}")
        if self.default_dim < 0:
            raise ValueError(f"default_dim must be >= 0, got {self.default_dim}")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.memory_limit is not None and self.memory_limit <= 0:
            raise ValueError(f"memory_limit must be > 0 bytes, got {self.memory_limit}")
        if self.max_input_size <= 0:
            raise ValueError(f"max_input_size must be > 0 bytes, got {self.max_input_size}")
        dims = {str(k): int(v) for k, v in self.dims.items()}
        shapes = {str(k): tuple(int(d) for d in v) for k, v in self.shapes.items()}
        for name, value in dims.items():
            if value < 0:
                raise ValueError(f"dims[{name!r}] must be >= 0, got {value}")
        for name, shape in shapes.items():
            if any(d < 0 for d in shape):
                raise ValueError(f"shapes[{name!r}] must not be negative, got {shape}")
        values = {str(k): _frozen_value(v) for k, v in self.values.items()}
        object.__setattr__(self, "dims", _FrozenMap(dims))
        object.__setattr__(self, "shapes", _FrozenMap(shapes))
        object.__setattr__(self, "values", _FrozenMap(values))
        object.__setattr__(self, "custom_op_libraries", tuple(self.custom_op_libraries))
        object.__setattr__(self, "overrides", tuple(self.overrides))


def _frozen_value(value: Any) -> Any:
    """A configured input value as hashable data: a number, or nested tuples."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen_value(item) for item in value)
    if isinstance(value, (bool, int, float)):
        return value
    raise ValueError(f"an input value must be a number or an array of numbers, got {value!r}")


def verify_settings_for(verify: VerifySettings, matches: Callable[[str], bool]) -> VerifySettings:
    """``verify`` with every override whose ``files`` glob ``matches`` applied, in
    file order (a later one wins); ``dims``, ``shapes`` and ``values`` merge."""
    changes: dict[str, Any] = {}
    for override in verify.overrides:
        if not any(matches(glob) for glob in override.files):
            continue
        for name, value in override.changes.items():
            if name in _MERGED_VERIFY_FIELDS:
                base = changes.get(name, getattr(verify, name))
                changes[name] = {**base, **value}
            else:
                changes[name] = value
    return dataclasses.replace(verify, **changes) if changes else verify


@dataclass(frozen=True)
class RuleSelection:
    """One layer of rule selection, as ruff resolves them: a layer with ``select``
    starts the rule set afresh (dropping what earlier layers ignored); one without
    only adds (``extend_select``) and removes (``ignore``) rules."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    source: str = ""  # where the selectors come from, for error messages


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one run.

    ``root`` is the folder of the config file; exclude and per-file-ignores globs are
    relative to it (``None``: no config file, use the current directory).

    ``select`` / ``extend_select`` / ``ignore`` are the configuration file's layer of
    rule selection; ``selections`` are the layers on top of it (``--config`` text
    and the command line, in that order), added with :func:`add_selection`.
    """

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=_empty_mapping)
    fixable: tuple[str, ...] | None = None
    unfixable: tuple[str, ...] = ()
    unsafe_fixes: bool = False
    exclude: tuple[str, ...] = ()
    extend_exclude: tuple[str, ...] = ()
    output_format: str | None = None
    # The largest initializer constant or shape folding may create (None: no cap
    # beyond "never grow the file"), like onnx-simplifier's --size-threshold.
    max_folded_constant: int | None = None
    docs_url: str = DOCS_URL
    required_version: str | None = None  # checked when the file is read
    verify: VerifySettings = field(default_factory=VerifySettings)
    config_path: Path | None = None
    root: Path | None = None
    extra: Mapping[str, Any] = field(default_factory=_empty_mapping)
    selections: tuple[RuleSelection, ...] = ()

    def rule_selections(self) -> tuple[RuleSelection, ...]:
        """Every layer of rule selection, lowest priority first."""
        source = self.config_path.name if self.config_path is not None else "configuration"
        own = RuleSelection(self.select, self.extend_select, self.ignore, source)
        return (own, *self.selections)


def add_selection(
    settings: Settings,
    *,
    select: Iterable[str] | None = None,
    extend_select: Iterable[str] = (),
    ignore: Iterable[str] = (),
    source: str = "command line",
) -> Settings:
    """``settings`` with one more layer of rule selection on top (ruff's command-line
    semantics: a ``select`` here beats the file's ``ignore``). Nothing given: unchanged."""
    layer = RuleSelection(
        tuple(select) if select is not None else None,
        tuple(extend_select),
        tuple(ignore),
        source,
    )
    if layer.select is None and not layer.extend_select and not layer.ignore:
        return settings
    return dataclasses.replace(settings, selections=(*settings.selections, layer))


# --------------------------------------------------------------------------- finding


def _read_toml(path: Path, display: str) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{display}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{display}: config path is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{display}: cannot read config file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{display}: config file is not valid UTF-8: {exc.reason}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The message carries "(at line N, column M)".
        raise ConfigError(f"{display}: invalid TOML: {exc}") from None


def _display(path: Path) -> str:
    """The path as shown in messages: relative to the working directory when inside it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _pyproject_has_table(path: Path) -> bool:
    data = _read_toml(path, _display(path))
    tool = data.get("tool")
    return isinstance(tool, dict) and TOOL_NAME in tool


def find_config_file(start: Path) -> Path | None:
    """The config file that applies to ``start`` (a directory or a file), or ``None``.

    Walks up to the filesystem root. A ``pyproject.toml`` without a
    ``[tool.onnxslim-lint]`` table does not count; an unparsable one is an error
    (as in ruff), since it may hold the table.
    """
    start = Path(start).absolute()
    if not start.is_dir():
        start = start.parent
    for directory in (start, *start.parents):
        for name in CONFIG_FILE_NAMES:
            candidate = directory / name
            if not candidate.is_file():
                continue
            if name == "pyproject.toml" and not _pyproject_has_table(candidate):
                continue
            return candidate
    return None


# --------------------------------------------------------------------------- validation


class _Source:
    """Where a table came from, for error messages."""

    def __init__(self, display: str, prefix: str, base: Path | None = None) -> None:
        self.display = display
        self.prefix = prefix  # "tool.onnxslim-lint", or "" for a standalone file / --config
        self.base = base  # relative paths in the table are taken from here (None: cwd)

    def path(self, text: str) -> str:
        """``text`` as an absolute path, relative ones taken from the table's folder."""
        path = Path(text).expanduser()
        return str(path if path.is_absolute() else (self.base or Path.cwd()) / path)

    def where(self, section: str = "") -> str:
        name = ".".join(part for part in (self.prefix, section) if part)
        return f" in [{name}]" if name else ""

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.display}: {message}")


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a float ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _unknown_key(key: str, known: list[str], src: _Source, section: str) -> ConfigError:
    suggestion = None
    if key.replace("_", "-") in known:
        suggestion = key.replace("_", "-")
    else:
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if close:
            suggestion = close[0]
    hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
    return src.error(f"unknown key '{key}'{src.where(section)}{hint}")


def _wrong(key: str, expected: str, value: object, src: _Source, section: str) -> ConfigError:
    return src.error(f"'{key}'{src.where(section)} must be {expected}, got {_type_name(value)}")


def _str_list(key: str, value: object, src: _Source, section: str = "") -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _wrong(key, "an array of strings", value, src, section)
    return tuple(value)


def _bool(key: str, value: object, src: _Source, section: str = "") -> bool:
    if not isinstance(value, bool):
        raise _wrong(key, "a boolean (true or false)", value, src, section)
    return value


def _int(key: str, value: object, src: _Source, section: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise _wrong(key, expected, value, src, section)
    return value


def _tolerance(key: str, value: object, src: _Source, section: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _wrong(key, "a number >= 0", value, src, section)
    if math.isnan(value) or value < 0:
        raise _wrong(key, "a number >= 0", value, src, section)
    return float(value)


def _output_format(key: str, value: object, src: _Source, section: str = "") -> str:
    if not isinstance(value, str) or value not in OUTPUT_FORMATS:
        expected = "one of " + ", ".join(f"'{name}'" for name in OUTPUT_FORMATS)
        raise _wrong(key, expected, value, src, section)
    return value


def _per_file_ignores(
    key: str, value: object, src: _Source, section: str = ""
) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise _wrong(key, "a table of glob = [selectors]", value, src, section)
    return MappingProxyType(
        {glob: _str_list(f"{key}.{glob}", codes, src, section) for glob, codes in value.items()}
    )


_Parser = Callable[[str, Any, _Source, str], Any]


#: TOML key -> (Settings field, parser). ``verify`` and extra sections are handled apart.
def _size(key: str, value: object, src: _Source, section: str = "") -> int:
    size = parse_size(value)
    if size is None:
        raise _wrong(key, SIZE_HELP, value, src, section)
    return size


def _url(key: str, value: object, src: _Source, section: str) -> str:
    if not isinstance(value, str) or not value.startswith(("https://", "http://", "file://")):
        raise _wrong(key, "a URL (https://...)", value, src, section)
    return value.rstrip("/")


def _required_version(key: str, value: object, src: _Source, section: str) -> str:
    """A PEP 440 specifier (``">=0.1,<0.3"``) or an exact version (``"0.1.0"``), as
    ruff's ``required-version``; one the running version does not satisfy is an error."""
    # packaging is imported here, not at the top: the CLI's --version and --help
    # import this module and need not load it.
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    expected = 'a version or a version specifier, like ">=0.1.0" or "0.1.0"'
    if not isinstance(value, str) or not value.strip():
        raise _wrong(key, expected, value, src, section)
    text = value.strip()
    try:
        Version(text)
        specifier = SpecifierSet(f"=={text}")
    except InvalidVersion:
        try:
            specifier = SpecifierSet(text)
        except InvalidSpecifier:
            raise _wrong(key, expected, value, src, section) from None
    # The running version is what it is: a pre-release satisfies ">=" like a release.
    if not specifier.contains(Version(__version__), prereleases=True):
        raise ConfigError(
            f"required version {text} does not match the running version {__version__}"
        )
    return text


_TOP_KEYS: dict[str, tuple[str, _Parser]] = {
    "select": ("select", _str_list),
    "extend-select": ("extend_select", _str_list),
    "ignore": ("ignore", _str_list),
    "per-file-ignores": ("per_file_ignores", _per_file_ignores),
    "fixable": ("fixable", _str_list),
    "unfixable": ("unfixable", _str_list),
    "unsafe-fixes": ("unsafe_fixes", _bool),
    "exclude": ("exclude", _str_list),
    "extend-exclude": ("extend_exclude", _str_list),
    "output-format": ("output_format", _output_format),
    "max-folded-constant": ("max_folded_constant", _size),
    "docs-url": ("docs_url", _url),
    "required-version": ("required_version", _required_version),
}


def _parse_dims(key: str, value: object, src: _Source, section: str) -> Mapping[str, int]:
    if not isinstance(value, dict):
        raise _wrong(key, "a table of dim name = positive integer", value, src, section)
    return MappingProxyType(
        {name: _int(f"{key}.{name}", dim, src, section, minimum=1) for name, dim in value.items()}
    )


def _parse_shapes(
    key: str, value: object, src: _Source, section: str
) -> Mapping[str, tuple[int, ...]]:
    if not isinstance(value, dict):
        raise _wrong(key, "a table of input name = [dims]", value, src, section)
    shapes: dict[str, tuple[int, ...]] = {}
    for name, shape in value.items():
        item_key = f"{key}.{name}"
        if not isinstance(shape, list):
            raise _wrong(item_key, "an array of integers >= 0", shape, src, section)
        shapes[name] = tuple(_int(item_key, dim, src, section, minimum=0) for dim in shape)
    return MappingProxyType(shapes)


def _parse_values(key: str, value: object, src: _Source, section: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _wrong(key, "a table of input name = number or array", value, src, section)
    out: dict[str, Any] = {}
    for name, item in value.items():
        if not _is_numeric_array(item):
            raise _wrong(f"{key}.{name}", "a number or an array of numbers", item, src, section)
        out[name] = item
    return MappingProxyType(out)


def _is_numeric_array(value: object) -> bool:
    if isinstance(value, list):
        return all(_is_numeric_array(item) for item in value)
    return isinstance(value, (bool, int, float))


def _path(key: str, value: object, src: _Source, section: str) -> str:
    if not isinstance(value, str) or not value:
        raise _wrong(key, "a path (a non-empty string)", value, src, section)
    return src.path(value)


def _paths(key: str, value: object, src: _Source, section: str) -> tuple[str, ...]:
    items = _str_list(key, value, src, section)
    return tuple(_path(key, item, src, section) for item in items)


def _seconds(key: str, value: object, src: _Source, section: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise _wrong(key, "a number of seconds > 0", value, src, section)
    return float(value)


def _positive_size(key: str, value: object, src: _Source, section: str) -> int:
    size = _size(key, value, src, section)
    if size <= 0:
        raise _wrong(key, f"{SIZE_HELP}, above zero", value, src, section)
    return size


_VERIFY_KEYS: dict[str, _Parser] = {
    "samples": lambda k, v, s, sec: _int(k, v, s, sec, minimum=1),
    # numpy seeds must be non-negative.
    "seed": lambda k, v, s, sec: _int(k, v, s, sec, minimum=0),
    "rtol": _tolerance,
    "atol": _tolerance,
    "dims": _parse_dims,
    "shapes": _parse_shapes,
    "values": _parse_values,
    "inputs": _path,
    "custom-op-libraries": _paths,
    "timeout": _seconds,
    "memory-limit": _positive_size,
    "max-input-size": _positive_size,
    "enabled": _bool,
}


def _parse_verify_keys(
    table: Mapping[str, Any], src: _Source, section: str, allowed: list[str]
) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for key, item in table.items():
        parser = _VERIFY_KEYS.get(key)
        if parser is None:
            raise _unknown_key(key, allowed, src, section)
        parsed[key.replace("-", "_")] = parser(key, item, src, section)
    return parsed


def _parse_overrides(value: object, src: _Source) -> tuple[VerifyOverride, ...]:
    expected = 'an array of tables like { files = ["models/vad.onnx"], values = { sr = 16000 } }'
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _wrong("overrides", expected, value, src, "verify")
    overrides = []
    for number, table in enumerate(value, 1):
        section = f"verify.overrides] [entry {number}"
        if "files" not in table:
            raise src.error(
                f"'files' is missing{src.where(section)}: "
                "each override names the models it applies to"
            )
        files = _str_list("files", table["files"], src, section)
        if not files:
            raise _wrong("files", "a non-empty array of globs", table["files"], src, section)
        rest = {key: item for key, item in table.items() if key != "files"}
        changes = _parse_verify_keys(rest, src, section, ["files", *_VERIFY_KEYS])
        overrides.append(VerifyOverride(files, _FrozenMap(changes)))
    return tuple(overrides)


def _parse_verify(value: object, src: _Source) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _wrong("verify", "a table", value, src, "")
    rest = {key: item for key, item in value.items() if key != "overrides"}
    parsed = _parse_verify_keys(rest, src, "verify", [*_VERIFY_KEYS, "overrides"])
    if "overrides" in value:
        parsed["overrides"] = _parse_overrides(value["overrides"], src)
    return parsed


def _parse_table(table: dict[str, Any], src: _Source) -> dict[str, Any]:
    """Validate one ``[tool.onnxslim-lint]`` table into Settings keyword arguments.

    ``verify`` comes back as a dict of the VerifySettings fields that were given, and
    extra sections under ``extra``; only keys present in ``table`` appear.
    """
    known = [*_TOP_KEYS, "verify", *EXTRA_SECTIONS]
    parsed: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    # required-version first: a file for a newer release fails on the version, not
    # on a key this release does not know yet.
    for key, value in sorted(table.items(), key=lambda item: item[0] != "required-version"):
        if key == "verify":
            parsed["verify"] = _parse_verify(value, src)
        elif key in EXTRA_SECTIONS:
            if not isinstance(value, dict):
                raise _wrong(key, "a table", value, src, "")
            extra[key] = value
        elif key in _TOP_KEYS:
            name, parser = _TOP_KEYS[key]
            parsed[name] = parser(key, value, src, "")
        else:
            raise _unknown_key(key, known, src, "")
    if extra:
        parsed["extra"] = extra
    return parsed


# --------------------------------------------------------------------------- budget


@dataclass(frozen=True)
class Limits:
    """The size budget for one model (``[tool.onnxslim-lint.budget]``); None: no limit.

    ``message`` is shown in the finding when the budget is broken (who to ask, what
    to do); it is not a limit."""

    max_size: int | None = None
    max_growth: int | None = None
    max_growth_percent: float | None = None
    message: str | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.max_size, self.max_growth, self.max_growth_percent))


@dataclass(frozen=True)
class BudgetSettings:
    """The validated budget table: the defaults, then overrides by glob, in file order
    (each override holds only the ``Limits`` fields it sets)."""

    default: Limits = field(default_factory=Limits)
    per_file: tuple[tuple[str, Mapping[str, Any]], ...] = ()

    @property
    def configured(self) -> bool:
        return self.default.any or any(
            key != "message" for _, limits in self.per_file for key in limits
        )


def _message(key: str, value: object, src: _Source, section: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _wrong(key, "a non-empty string", value, src, section)
    return value.strip()


_BUDGET_KEYS: dict[str, _Parser] = {
    "max-size": _size,
    "max-growth": _size,
    "max-growth-percent": _tolerance,
    "message": _message,
}


def _parse_limits(table: Mapping[str, Any], src: _Source, section: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for key, value in table.items():
        parser = _BUDGET_KEYS.get(key)
        if parser is None:
            raise _unknown_key(key, list(_BUDGET_KEYS), src, section)
        parsed[key.replace("-", "_")] = parser(key, value, src, section)
    return parsed


def _parse_budget(table: Mapping[str, Any], src: _Source) -> BudgetSettings:
    top = {key: value for key, value in table.items() if key != "per-file"}
    default = Limits(**_parse_limits(top, src, "budget"))
    per_file = table.get("per-file", {})
    if not isinstance(per_file, Mapping):
        raise _wrong("per-file", "a table of glob = { max-size = ... }", per_file, src, "budget")
    overrides: list[tuple[str, Mapping[str, Any]]] = []
    for glob, limits in per_file.items():
        key = f'per-file."{glob}"'
        if not isinstance(limits, Mapping):
            raise _wrong(key, 'a table like { max-size = "50 MB" }', limits, src, "budget")
        parsed = _parse_limits(limits, src, f"budget.{key}")
        overrides.append((glob, MappingProxyType(parsed)))
    return BudgetSettings(default, tuple(overrides))


def budget_settings(settings: Settings) -> BudgetSettings:
    """Validate the ``budget`` table of ``settings``; errors name the file and the key.

    The table may merge a config file and ``--config`` overrides; a mistake the
    file alone does not have is reported as coming from ``--config``.
    """
    raw = settings.extra.get("budget")
    if not raw:
        return BudgetSettings()
    path = settings.config_path
    if path is None:
        return _parse_budget(raw, _Source("--config", ""))
    try:
        return _parse_budget(raw, _file_source(path))
    except ConfigError:
        own = load_settings(path).extra.get("budget")
        if own:
            _parse_budget(own, _file_source(path))  # raises when the file is at fault
        return _parse_budget(raw, _Source("--config", ""))


# --------------------------------------------------------------------------- loading


def _file_source(path: Path) -> _Source:
    """A config file as messages name it; a ``pyproject.toml``'s keys are under
    ``[tool.onnxslim-lint]``."""
    prefix = f"tool.{TOOL_NAME}" if path.name == "pyproject.toml" else ""
    return _Source(_display(path), prefix, path.absolute().parent)


def load_settings(path: Path | None) -> Settings:
    """Settings from one config file (``None``: the defaults).

    A ``pyproject.toml`` is read from its ``[tool.onnxslim-lint]`` table (defaults if it
    has none); any other file name holds the same keys at the top level.
    """
    if path is None:
        return Settings()
    path = Path(path)
    display = _display(path)
    data = _read_toml(path, display)
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        if not isinstance(tool, dict):
            raise ConfigError(f"{display}: 'tool' must be a table, got {_type_name(tool)}")
        table = tool.get(TOOL_NAME, {})
        if not isinstance(table, dict):
            raise ConfigError(
                f"{display}: 'tool.{TOOL_NAME}' must be a table, got {_type_name(table)}"
            )
    else:
        table = data
    parsed = _parse_table(table, _file_source(path))
    verify = VerifySettings(**parsed.pop("verify", {}))
    extra = MappingProxyType(parsed.pop("extra", {}))
    absolute = path.absolute()
    return Settings(
        **parsed, verify=verify, extra=extra, config_path=absolute, root=absolute.parent
    )


def settings_for(start: Path, *, config: Path | None = None, isolated: bool = False) -> Settings:
    """The settings that apply when checking ``start``.

    ``config`` (``--config PATH``) skips the search; ``isolated`` (``--isolated``)
    ignores every config file. Both at once is a usage error, as in ruff.
    """
    if isolated:
        if config is not None:
            raise UsageError("--config with a file path cannot be used with --isolated")
        return Settings()
    if config is not None:
        return load_settings(config)
    return load_settings(find_config_file(start))


# --------------------------------------------------------------------------- overrides

_TUPLE_FIELDS = frozenset(
    {"select", "extend_select", "ignore", "fixable", "unfixable", "exclude", "extend_exclude"}
)


def _merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_overrides(settings: Settings, **overrides: Any) -> Settings:
    """``settings`` with command-line values on top; ``None`` values are skipped.

    Keys are Settings field names. Values replace the file's values (lists become
    tuples), except ``verify`` and ``extra``: a mapping there is merged key by key
    (a ``VerifySettings`` replaces the whole section).
    """
    fields = {f.name for f in dataclasses.fields(Settings)}
    changes: dict[str, Any] = {}
    for name, value in overrides.items():
        if name not in fields:
            raise TypeError(f"apply_overrides() got an unknown setting {name!r}")
        if value is None:
            continue
        if name in _TUPLE_FIELDS:
            value = tuple(value)
        elif name == "per_file_ignores":
            value = MappingProxyType({glob: tuple(codes) for glob, codes in value.items()})
        elif name == "verify" and not isinstance(value, VerifySettings):
            given = {key: item for key, item in value.items() if item is not None}
            value = dataclasses.replace(settings.verify, **given)
        elif name == "extra":
            value = MappingProxyType(_merge(settings.extra, value))
        changes[name] = value
    return dataclasses.replace(settings, **changes) if changes else settings


def parse_config_override(text: str) -> dict[str, Any]:
    """Parse ruff-style ``--config "KEY = VALUE"`` text into :func:`apply_overrides` keywords.

    Keys are those of ``[tool.onnxslim-lint]`` (``verify.samples = 5``,
    ``select = ["OSL1"]``) and are validated as in a file. Pass the result as
    ``apply_overrides(settings, **parse_config_override(text))``.
    """
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"--config: {text!r} is neither an existing file nor a valid TOML "
            f"'KEY = VALUE' override: {exc}"
        ) from None
    return _parse_table(table, _Source("--config", ""))
