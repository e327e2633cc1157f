"""Finish pytest's JUnit XML for alerting: suite properties, alert-ready failure messages.

pytest's junitxml loses ``record_testsuite_property`` under xdist (pytest #7767), and GitLab shows
the failure message but ignores properties; so the controller rewrites the file after it is written.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

from lms_opscheck.fixtures.outputs import RECORD_PROPERTY
from lms_opscheck.probes.redaction import redact
from lms_opscheck.reports.results import CheckResult


def junit_key(nodeid: str) -> tuple[str, str]:
    """(classname, name) as pytest's junitxml derives them from a node id."""
    names = nodeid.split("::")
    names[0] = names[0].replace("/", ".").removesuffix(".py")
    names[-1] = names[-1].replace("::", ".")
    return ".".join(names[:-1]), names[-1]


def alert_message(check: CheckResult) -> str:
    control = check.control
    if control is None:
        return check.message
    text = f"{control.id} [{control.severity}] {check.category or check.outcome}: {check.message}"
    if control.runbook_url:
        text += f" | runbook: {control.runbook_url}"
    return redact(text)


def finish(path: Path, suite_properties: Mapping[str, str], checks: list[CheckResult]) -> None:
    tree = ET.parse(path)
    root = tree.getroot()
    by_key = {junit_key(check.nodeid): check for check in checks}
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        _suite_properties(suite, suite_properties)
        for case in suite.iter("testcase"):
            _drop_internal(case)
            check = by_key.get((case.get("classname", ""), case.get("name", "")))
            if check is None:
                continue
            for node in (*case.findall("failure"), *case.findall("error")):
                node.set("message", alert_message(check))
    temporary = path.with_name(f".{path.name}.tmp")
    tree.write(temporary, encoding="utf-8", xml_declaration=True)
    os.replace(temporary, path)


def _suite_properties(suite: ET.Element, values: Mapping[str, str]) -> None:
    props = suite.find("properties")
    if props is None:
        props = ET.Element("properties")
        suite.insert(0, props)
    present = {p.get("name") for p in props.findall("property")}
    for name, value in values.items():
        if name not in present:
            ET.SubElement(props, "property", name=name, value=redact(value))


def _drop_internal(case: ET.Element) -> None:
    for props in case.findall("properties"):
        for prop in props.findall("property"):
            if prop.get("name") == RECORD_PROPERTY:
                props.remove(prop)
        if len(props) == 0:
            case.remove(props)
