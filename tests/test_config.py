"""Tests for onnxslim_lint.config: finding, parsing and validating configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from onnxslim_lint.config import (
    Settings,
    VerifySettings,
    apply_overrides,
    find_config_file,
    load_settings,
    parse_config_override,
    settings_for,
    verify_settings_for,
)
from onnxslim_lint.errors import ConfigError, UsageError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def pyproject(directory: Path, body: str) -> Path:
    return write(directory / "pyproject.toml", "[tool.onnxslim-lint]\n" + body)


# --------------------------------------------------------------------------- finding


def test_nearest_pyproject_with_table_wins(tmp_path: Path) -> None:
    pyproject(tmp_path, 'select = ["OSL1"]\n')
    inner = pyproject(tmp_path / "a", 'select = ["OSL2"]\n')
    start = tmp_path / "a" / "b" / "c"
    start.mkdir(parents=True)
    assert find_config_file(start) == inner
    assert settings_for(start).select == ("OSL2",)


def test_pyproject_without_table_is_skipped(tmp_path: Path) -> None:
    outer = pyproject(tmp_path, 'ignore = ["OSL9"]\n')
    write(tmp_path / "pkg" / "pyproject.toml", '[project]\nname = "x"\n[tool.ruff]\n')
    assert find_config_file(tmp_path / "pkg") == outer
    settings = settings_for(tmp_path / "pkg")
    assert settings.ignore == ("OSL9",)
    assert settings.root == tmp_path
    assert settings.config_path == outer


def test_start_can_be_a_file(tmp_path: Path) -> None:
    config = pyproject(tmp_path, "")
    model = write(tmp_path / "m.onnx", "")
    assert find_config_file(model) == config


def test_no_config_gives_defaults(tmp_path: Path) -> None:
    # tmp_path lives under the system temp dir, which holds no config of ours.
    if find_config_file(tmp_path) is not None:
        pytest.skip("a config file exists above the temp directory")
    settings = settings_for(tmp_path)
    assert settings == Settings()
    assert settings.root is None and settings.config_path is None


def test_standalone_file_at_top_level(tmp_path: Path) -> None:
    config = write(
        tmp_path / "onnxslim-lint.toml",
        'extend-select = ["OSL3"]\noutput-format = "json"\n[verify]\nsamples = 7\n',
    )
    settings = settings_for(tmp_path)
    assert settings.config_path == config
    assert settings.extend_select == ("OSL3",)
    assert settings.output_format == "json"
    assert settings.verify.samples == 7


def test_dot_file_and_standalone_beat_pyproject_in_same_dir(tmp_path: Path) -> None:
    pyproject(tmp_path, 'select = ["P"]\n')
    write(tmp_path / "onnxslim-lint.toml", 'select = ["S"]\n')
    assert settings_for(tmp_path).select == ("S",)
    dot = write(tmp_path / ".onnxslim-lint.toml", 'select = ["D"]\n')
    assert find_config_file(tmp_path) == dot
    assert settings_for(tmp_path).select == ("D",)


def test_standalone_file_keys_are_not_under_tool(tmp_path: Path) -> None:
    write(tmp_path / "onnxslim-lint.toml", '[tool.onnxslim-lint]\nselect = ["X"]\n')
    with pytest.raises(ConfigError, match="unknown key 'tool'"):
        settings_for(tmp_path)


def test_full_config_parses(tmp_path: Path) -> None:
    pyproject(
        tmp_path,
        """
select = ["OSL1", "OSL2"]
extend-select = ["OSL3"]
ignore = ["OSL101"]
fixable = ["OSL1"]
unfixable = ["OSL2"]
unsafe-fixes = true
exclude = ["legacy/*.onnx"]
extend-exclude = ["*.tmp.onnx"]
output-format = "sarif"

[tool.onnxslim-lint.per-file-ignores]
"third_party/**" = ["OSL1"]

[tool.onnxslim-lint.verify]
samples = 5
seed = 42
rtol = 0
atol = 1e-3
enabled = false
dims = { batch = 2, seq = 16 }
shapes = { input_ids = [2, 16], scalar = [] }

[tool.onnxslim-lint.budget]
max-size = "10MB"
nested = { a = 1 }
""",
    )
    s = settings_for(tmp_path)
    assert s.select == ("OSL1", "OSL2")
    assert s.extend_select == ("OSL3",)
    assert s.ignore == ("OSL101",)
    assert s.fixable == ("OSL1",)
    assert s.unfixable == ("OSL2",)
    assert s.unsafe_fixes is True
    assert s.exclude == ("legacy/*.onnx",)
    assert s.extend_exclude == ("*.tmp.onnx",)
    assert s.output_format == "sarif"
    assert dict(s.per_file_ignores) == {"third_party/**": ("OSL1",)}
    assert s.verify == VerifySettings(
        samples=5,
        seed=42,
        rtol=0.0,
        atol=1e-3,
        dims={"batch": 2, "seq": 16},
        shapes={"input_ids": (2, 16), "scalar": ()},
        enabled=False,
    )
    assert isinstance(s.verify.rtol, float)
    assert s.extra["budget"] == {"max-size": "10MB", "nested": {"a": 1}}


# --------------------------------------------------------------------------- errors


def test_unknown_key_names_key_file_and_suggestion(tmp_path: Path) -> None:
    pyproject(tmp_path, 'selekt = ["OSL1"]\n')
    with pytest.raises(ConfigError) as info:
        settings_for(tmp_path)
    message = str(info.value)
    assert "pyproject.toml" in message
    assert "unknown key 'selekt' in [tool.onnxslim-lint]" in message
    assert "(did you mean 'select'?)" in message


def test_unknown_key_snake_case_suggests_kebab(tmp_path: Path) -> None:
    write(tmp_path / "onnxslim-lint.toml", "unsafe_fixes = true\n")
    with pytest.raises(ConfigError, match=r"onnxslim-lint\.toml.*did you mean 'unsafe-fixes'"):
        settings_for(tmp_path)


def test_unknown_key_in_verify(tmp_path: Path) -> None:
    pyproject(tmp_path, "[tool.onnxslim-lint.verify]\nsample = 2\n")
    with pytest.raises(ConfigError) as info:
        settings_for(tmp_path)
    message = str(info.value)
    assert "pyproject.toml" in message
    assert "'sample' in [tool.onnxslim-lint.verify]" in message
    assert "did you mean 'samples'" in message


def test_unknown_key_without_close_match_has_no_hint(tmp_path: Path) -> None:
    pyproject(tmp_path, "zzzzzz = 1\n")
    with pytest.raises(ConfigError) as info:
        settings_for(tmp_path)
    assert "unknown key 'zzzzzz'" in str(info.value)
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize(
    ("body", "key", "expected"),
    [
        ('select = "OSL1"\n', "'select'", "array of strings"),
        ("ignore = [1]\n", "'ignore'", "array of strings"),
        ('unsafe-fixes = "yes"\n', "'unsafe-fixes'", "boolean"),
        ('output-format = "xml"\n', "'output-format'", "'concise'"),
        ("output-format = 3\n", "'output-format'", "one of"),
        ('per-file-ignores = ["x"]\n', "'per-file-ignores'", "table"),
        ('per-file-ignores = { "a" = "OSL1" }\n', "'per-file-ignores.a'", "array of strings"),
        ("verify = 3\n", "'verify'", "table"),
        ("budget = 3\n", "'budget'", "table"),
        ('[tool.onnxslim-lint.verify]\nsamples = "3"\n', "'samples'", "positive integer"),
        ("[tool.onnxslim-lint.verify]\nsamples = 0\n", "'samples'", "positive integer"),
        ("[tool.onnxslim-lint.verify]\nsamples = true\n", "'samples'", "positive integer"),
        ("[tool.onnxslim-lint.verify]\nseed = 1.5\n", "'seed'", "integer"),
        ('[tool.onnxslim-lint.verify]\nrtol = "x"\n', "'rtol'", "number >= 0"),
        ("[tool.onnxslim-lint.verify]\natol = -1e-3\n", "'atol'", "number >= 0"),
        ("[tool.onnxslim-lint.verify]\natol = nan\n", "'atol'", "number >= 0"),
        ("[tool.onnxslim-lint.verify]\nenabled = 1\n", "'enabled'", "boolean"),
        ("[tool.onnxslim-lint.verify]\ndims = { batch = -1 }\n", "'dims.batch'", "positive"),
        ("[tool.onnxslim-lint.verify]\ndims = [1]\n", "'dims'", "table"),
        ("[tool.onnxslim-lint.verify]\nshapes = { x = 3 }\n", "'shapes.x'", "array of integers"),
        ("[tool.onnxslim-lint.verify]\nshapes = { x = [1, -2] }\n", "'shapes.x'", ">= 0"),
    ],
)
def test_wrong_types_name_key_type_and_file(
    tmp_path: Path, body: str, key: str, expected: str
) -> None:
    pyproject(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        settings_for(tmp_path)
    message = str(info.value)
    assert "pyproject.toml" in message
    assert key in message
    assert expected in message


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "onnxslim-lint.toml", 'select = ["OSL1"]\n\nignore = [\n  "x" "y"\n]\n')
    with pytest.raises(ConfigError) as info:
        settings_for(tmp_path)
    message = str(info.value)
    assert "onnxslim-lint.toml" in message
    assert "line 4" in message


def test_broken_pyproject_while_searching_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml.*line 1"):
        find_config_file(tmp_path)


def test_tool_table_of_wrong_type(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", 'tool = { onnxslim-lint = "x" }\n')
    with pytest.raises(ConfigError, match=r"pyproject\.toml.*'tool\.onnxslim-lint'.*table"):
        settings_for(tmp_path)


def test_explicit_config_path(tmp_path: Path) -> None:
    pyproject(tmp_path, 'select = ["NEAR"]\n')
    other = write(tmp_path / "elsewhere" / "custom.toml", 'select = ["FAR"]\n')
    settings = settings_for(tmp_path, config=other)
    assert settings.select == ("FAR",)
    assert settings.root == other.parent.absolute()


def test_explicit_pyproject_without_table_is_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    settings = load_settings(path)
    assert settings.select is None
    assert settings.config_path == path.absolute()


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        settings_for(tmp_path, config=tmp_path / "nope.toml")


def test_isolated_ignores_files(tmp_path: Path) -> None:
    pyproject(tmp_path, 'select = ["OSL1"]\n')
    settings = settings_for(tmp_path, isolated=True)
    assert settings == Settings()


def test_isolated_with_config_path_is_usage_error(tmp_path: Path) -> None:
    config = pyproject(tmp_path, "")
    with pytest.raises(UsageError):
        settings_for(tmp_path, config=config, isolated=True)


# --------------------------------------------------------------------------- overrides


def test_overrides_beat_file(tmp_path: Path) -> None:
    pyproject(
        tmp_path,
        'select = ["OSL1"]\nignore = ["OSL2"]\noutput-format = "full"\n'
        "[tool.onnxslim-lint.verify]\nsamples = 9\nseed = 4\n",
    )
    base = settings_for(tmp_path)
    result = apply_overrides(
        base,
        select=["OSL7"],
        ignore=None,
        output_format="json",
        unsafe_fixes=True,
        verify={"samples": 2, "seed": None},
    )
    assert result.select == ("OSL7",)
    assert result.ignore == ("OSL2",)  # None: not overridden
    assert result.output_format == "json"
    assert result.unsafe_fixes is True
    assert result.verify.samples == 2
    assert result.verify.seed == 4  # merged, not reset
    assert result.config_path == base.config_path
    assert base.select == ("OSL1",)  # original untouched


def test_override_verify_config_replaces_section() -> None:
    result = apply_overrides(
        Settings(verify=VerifySettings(samples=8)), verify=VerifySettings(seed=3)
    )
    assert result.verify == VerifySettings(seed=3)


def test_override_unknown_field_is_type_error() -> None:
    with pytest.raises(TypeError):
        apply_overrides(Settings(), selekt=["X"])


def test_inline_config_override(tmp_path: Path) -> None:
    pyproject(tmp_path, "[tool.onnxslim-lint.verify]\nsamples = 9\nrtol = 0.5\n")
    base = settings_for(tmp_path)
    override = parse_config_override("verify.samples = 5")
    assert override == {"verify": {"samples": 5}}
    result = apply_overrides(base, **override)
    assert result.verify.samples == 5
    assert result.verify.rtol == 0.5


def test_inline_config_override_top_level_and_budget() -> None:
    result = Settings(extra={"budget": {"a": 1, "t": {"x": 1}}})
    for text in ('select = ["OSL1", "OSL2"]', "budget.t.y = 2", 'output-format = "github"'):
        result = apply_overrides(result, **parse_config_override(text))
    assert result.select == ("OSL1", "OSL2")
    assert result.output_format == "github"
    assert result.extra["budget"] == {"a": 1, "t": {"x": 1, "y": 2}}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("selekt = []", "did you mean 'select'"),
        ('verify.samples = "5"', "'samples'"),
        ("verify.rtol = -1", "'rtol'"),
        ("not toml at all", "--config"),
    ],
)
def test_inline_config_override_is_validated(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_override(text)
    assert fragment in str(info.value)
    assert "--config" in str(info.value)


# --------------------------------------------------------------------------- verify overrides

_OVERRIDES = """
[tool.onnxslim-lint.verify]
dims = { batch = 1 }
timeout = 90
[[tool.onnxslim-lint.verify.overrides]]
files = ["models/vad*.onnx"]
values = { sr = 16000, state = [[0.0, 0.5]] }
dims = { samples = 512 }
inputs = "data/vad.npz"
custom-op-libraries = ["libs/libcustom.so"]
memory-limit = "3 GB"
[[tool.onnxslim-lint.verify.overrides]]
files = ["**/vad_v5.onnx"]
rtol = 1e-3
values = { sr = 8000 }
"""


def test_verify_overrides_apply_by_glob_in_file_order(tmp_path: Path) -> None:
    pyproject(tmp_path, _OVERRIDES)
    verify = settings_for(tmp_path).verify
    assert len(verify.overrides) == 2 and verify.timeout == 90.0
    v5 = verify_settings_for(verify, lambda glob: glob in ("models/vad*.onnx", "**/vad_v5.onnx"))
    assert dict(v5.dims) == {"batch": 1, "samples": 512}  # merged
    assert dict(v5.values) == {"sr": 8000, "state": ((0.0, 0.5),)}  # merged, later wins
    assert v5.rtol == 1e-3 and v5.memory_limit == 3_000_000_000
    assert v5.inputs == str(tmp_path / "data" / "vad.npz")  # from the config's folder
    assert v5.custom_op_libraries == (str(tmp_path / "libs" / "libcustom.so"),)
    other = verify_settings_for(verify, lambda glob: False)
    assert other == verify and dict(other.values) == {}
    hash(v5)  # settings stay hashable with arrays in them


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            'files = ["a.onnx"]\nsampels = 2\n',
            "'sampels' in [tool.onnxslim-lint.verify.overrides] [entry 1] "
            "(did you mean 'samples'?)",
        ),
        (
            "values = { sr = 1 }\n",
            "'files' is missing in [tool.onnxslim-lint.verify.overrides] [entry 1]",
        ),
        ('files = ["a.onnx"]\nvalues = { sr = "16k" }\n', "values.sr"),
        ('files = ["a.onnx"]\ntimeout = 0\n', "a number of seconds > 0"),
        ("files = []\n", "a non-empty array of globs"),
    ],
)
def test_bad_verify_overrides_are_named(tmp_path: Path, entry: str, expected: str) -> None:
    pyproject(tmp_path, "[[tool.onnxslim-lint.verify.overrides]]\n" + entry)
    with pytest.raises(ConfigError) as info:
        settings_for(tmp_path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)
