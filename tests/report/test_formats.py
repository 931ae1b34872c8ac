"""The CI output formats: github, sarif, junit (and json-lines), each checked by the
thing that reads it: the workflow-command syntax, the SARIF 2.1.0 schema, a JUnit
XML schema and junitparser. Also: the rule pages in docs/rules/ match the code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ci_models
import pytest
import xmlschema
from junitparser import Error, Failure, JUnitXml
from sarif_kit.validate import validation_errors

from onnxslim_lint.cli import main
from onnxslim_lint.findings import Finding, Location
from onnxslim_lint.report.formatters import FORMATTERS, RunInfo
from onnxslim_lint.report.formatters.github import escape_data, escape_property

ROOT = Path(__file__).resolve().parents[2]

# The structure CI servers read (the Jenkins/Ant JUnit layout), as an XML schema.
JUNIT_XSD = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:complexType name="problem" mixed="true">
    <xs:attribute name="message" type="xs:string"/>
    <xs:attribute name="type" type="xs:string"/>
  </xs:complexType>
  <xs:element name="testcase">
    <xs:complexType>
      <xs:sequence>
        <xs:choice minOccurs="0" maxOccurs="unbounded">
          <xs:element name="skipped" type="problem"/>
          <xs:element name="error" type="problem"/>
          <xs:element name="failure" type="problem"/>
          <xs:element name="system-out" type="xs:string"/>
          <xs:element name="system-err" type="xs:string"/>
        </xs:choice>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="classname" type="xs:string" use="required"/>
      <xs:attribute name="file" type="xs:string"/>
      <xs:attribute name="time" type="xs:decimal"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuite">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="testcase" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="tests" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="failures" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="errors" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="skipped" type="xs:nonNegativeInteger"/>
      <xs:attribute name="time" type="xs:decimal"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuites">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="testsuite" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string"/>
      <xs:attribute name="tests" type="xs:nonNegativeInteger"/>
      <xs:attribute name="failures" type="xs:nonNegativeInteger"/>
      <xs:attribute name="errors" type="xs:nonNegativeInteger"/>
      <xs:attribute name="time" type="xs:decimal"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""

WEIRD = "w%1:a,b\nc\r\x01"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a messy model (a weird tensor name), a clean one, an unreadable one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    monkeypatch.delenv("ONNXSLIM_LINT_OUTPUT_FORMAT", raising=False)
    ci_models.write(tmp_path / "models" / "messy.onnx", dead_floats=100, dead_name=WEIRD)
    ci_models.write(tmp_path / "models" / "clean.onnx")
    (tmp_path / "models" / "broken.onnx").write_bytes(b"")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["check", "--isolated", *args])
    return code, capsys.readouterr().out


# --------------------------------------------------------------------------- github


def test_escaping_follows_the_workflow_command_rules() -> None:
    assert escape_data("50% a:b,c\r\nd") == "50%25 a:b,c%0D%0Ad"
    assert escape_property("a%b:c,d\ne") == "a%25b%3Ac%2Cd%0Ae"


def test_github_one_annotation_per_file_and_rule(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "--output-format", "github", "models")
    assert code == 2  # the empty file is an error
    lines = out.splitlines()
    assert all(line.startswith("::error file=models/") for line in lines)
    by_key = {(line.split(",")[0], line.split("title=")[1].split("::")[0]) for line in lines}
    assert len(by_key) == len(lines)
    assert ("::error file=models/broken.onnx", "OSL001 empty-file") in by_key
    assert ("::error file=models/messy.onnx", "OSL101 unused-initializer") in by_key
    assert not any("clean.onnx" in line for line in lines)
    dead = next(line for line in lines if "OSL101" in line)
    # Count and bytes, then the tensor name (escaped) on its own line.
    assert "::1 unused initializer (4" in dead
    assert "%0Ainitializer w%251:a,b%0Ac%0D\\x01 float32[100]" in dead  # \x01 escaped


def test_github_paths_are_repository_relative(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", str(project))
    monkeypatch.chdir(project / "models")
    code, out = run(capsys, "--output-format", "github", "messy.onnx")
    assert code == 1
    assert out.startswith("::error file=models/messy.onnx,line=1,title=OSL101")


# --------------------------------------------------------------------------- sarif


def test_sarif_is_valid_2_1_0_with_relative_uris_and_rule_help(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "--output-format", "sarif", "models")
    assert code == 2
    log = json.loads(out)
    assert validation_errors(log) == []
    assert log["version"] == "2.1.0"
    (sarif_run,) = log["runs"]
    rules = sarif_run["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert "OSL101" in ids and "OSL001" in ids and "OSL301" in ids
    osl101 = rules[ids.index("OSL101")]
    assert osl101["name"] == "unused-initializer"
    assert "## What it does" in osl101["help"]["markdown"]
    results = sarif_run["results"]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["region"] == {"startLine": 1}
        assert physical["artifactLocation"]["uri"] in ("models/messy.onnx", "models/broken.onnx")
        assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    dead = next(r for r in results if r["ruleId"] == "OSL101")
    assert dead["locations"][0]["logicalLocations"][0]["name"] == WEIRD
    assert WEIRD in dead["message"]["text"]


def test_sarif_fingerprints_do_not_depend_on_the_model_bytes(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, first = run(capsys, "--output-format", "sarif", "models/messy.onnx")
    # Same file, same rule, different content: more dead weight, other values.
    ci_models.write(project / "models" / "messy.onnx", dead_floats=5000, seed=3)
    _, second = run(capsys, "--output-format", "sarif", "models/messy.onnx")

    def prints(text: str) -> dict[str, dict[str, str]]:
        return {
            r["ruleId"]: r["partialFingerprints"] for r in json.loads(text)["runs"][0]["results"]
        }

    assert prints(first) == prints(second)
    assert len(set(json.dumps(p) for p in prints(first).values())) == len(prints(first))
    # ... and a different file gets a different fingerprint.
    finding = Finding("a.onnx", "OSL101", "unused-initializer", "m", fixable=True)
    other = Finding("b.onnx", "OSL101", "unused-initializer", "m", fixable=True)
    log = json.loads(FORMATTERS["sarif"]([finding, other], RunInfo(root=project)))
    a, b = (r["partialFingerprints"] for r in log["runs"][0]["results"])
    assert a != b


def test_sarif_with_no_findings_is_valid(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--output-format", "sarif", "models/clean.onnx")
    assert code == 0
    log = json.loads(out)
    assert validation_errors(log) == []
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["tool"]["driver"]["rules"]  # the selected rules, with help


# --------------------------------------------------------------------------- junit


def test_junit_is_valid_and_counts_every_model(
    project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = run(capsys, "--output-format", "junit", "models")
    assert code == 2
    schema = xmlschema.XMLSchema(JUNIT_XSD)
    schema.validate(out)
    report = tmp_path / "report.xml"
    report.write_text(out)
    xml = JUnitXml.fromfile(str(report))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {"models/broken.onnx", "models/clean.onnx", "models/messy.onnx"}
    clean = suites["models/clean.onnx"]
    assert (clean.tests, clean.failures, clean.errors) == (1, 0, 0)
    assert [case.is_passed for case in clean] == [True]
    broken = suites["models/broken.onnx"]
    assert broken.errors == 1
    (case,) = list(broken)
    assert isinstance(case.result[0], Error) and case.result[0].type == "OSL001"
    messy = suites["models/messy.onnx"]
    assert messy.failures == 2 and messy.tests == 2
    names = sorted(case.name for case in messy)
    assert names == ["OSL101 unused-initializer", "OSL201 identity-op"]
    dead = next(case for case in messy if case.name.startswith("OSL101"))
    failure = dead.result[0]
    assert isinstance(failure, Failure)
    assert "w%1:a,b\nc" in failure.text and "\\x01" in failure.text
    assert int(xml.tests) == 4 and int(xml.failures) == 2 and int(xml.errors) == 1


def test_json_lines_one_object_per_finding(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = run(capsys, "--output-format", "json-lines", "models/messy.onnx")
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["code"] for o in objects] == ["OSL101", "OSL201"]
    assert objects[0]["location"][0]["name"] == WEIRD


def test_every_format_shows_budget_findings(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budget = ["--config", 'budget.max-size = "100 B"', "--select", "OSL301"]
    for name in FORMATTERS:
        code, out = run(capsys, *budget, "--output-format", name, "models/clean.onnx")
        assert code == 1, name
        assert "OSL301" in out, name
        assert "model is 144 B, 44 B above the 100 B budget" in out, name


def test_formats_accept_an_explicit_location_list() -> None:
    finding = Finding(
        "m.onnx",
        "OSL102",
        "dead-node",
        "2 dead nodes",
        fixable=True,
        locations=(Location("node", "a"), Location("node", "b", graph="main/If_0/then")),
    )
    for name, render in FORMATTERS.items():
        assert render([finding], RunInfo(files=("m.onnx",))), name


# --------------------------------------------------------------------------- docs


def test_rule_pages_match_the_rules() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_rule_docs.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
