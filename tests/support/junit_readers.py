"""junit.xml read the way two real readers read it, to assert what each one shows.

- GitLab (lib/gitlab/ci/parsers/test/junit.rb) turns the XML into a hash with ActiveSupport's
  ``Hash.from_xml``: a ``<failure>``/``<error>``/``<skipped>`` element with text becomes that
  text (its attributes are dropped); the test case's ``system_output`` is that value.
- Jenkins' JUnit plugin (hudson.tasks.junit.CaseResult): "Error Message" is the ``message``
  attribute of ``<error>`` (else ``<failure>``), "Stacktrace" is the element's text; a skip's
  message is ``<skipped message>`` (else its text); the class name is ``classname``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitLabCase:
    suite_name: str
    classname: str
    name: str
    status: str  # success | failed | error | skipped
    system_output: str | dict[str, str] | None


@dataclass(frozen=True)
class JenkinsCase:
    class_name: str
    name: str
    status: str  # PASSED | FAILED | SKIPPED
    error_details: str | None
    error_stack_trace: str | None
    skipped_message: str | None


def _cases(path: Path) -> list[tuple[ET.Element, ET.Element]]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    return [(suite, case) for suite in suites for case in suite.findall("testcase")]


def gitlab(path: Path) -> dict[str, GitLabCase]:
    cases = {}
    for suite, case in _cases(path):
        status, output = "success", None
        for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            element = case.find(tag)
            if element is not None:
                status = name
                text = element.text or ""
                output = text if text.strip() else dict(element.attrib)
                break
        found = GitLabCase(
            suite.get("name", ""), case.get("classname", ""), case.get("name", ""), status, output
        )
        cases[found.name] = found
    return cases


def jenkins(path: Path) -> dict[str, JenkinsCase]:
    cases = {}
    for suite, case in _cases(path):
        problem = case.find("error")
        if problem is None:
            problem = case.find("failure")
        skipped = case.find("skipped")
        status = "FAILED" if problem is not None else "SKIPPED" if skipped is not None else "PASSED"
        skip_message = None
        if skipped is not None:
            skip_message = skipped.get("message") or skipped.text
        found = JenkinsCase(
            case.get("classname") or suite.get("name", ""),
            case.get("name", ""),
            status,
            problem.get("message") if problem is not None else None,
            problem.text if problem is not None else None,
            skip_message,
        )
        cases[found.name] = found
    return cases
