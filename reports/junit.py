"""JUnit XML (xunit1 shape) written from the results records, for CI and alert routers.

What each reader shows (tests/faults/test_reporting_outputs.py reads it both ways):
- GitLab turns the XML into a hash: a ``<failure>``/``<error>``/``<skipped>`` element's *text*
  is what it shows, its attributes are dropped. So the text starts with the record's headline.
- Jenkins' JUnit plugin shows the ``message`` attribute as "Error Message" and the text as
  "Stacktrace". So ``message`` is the headline too, and the text adds evidence, no traceback.
Testcase names start with the control id (``HLT-01 test_api_...[https://api-1]``); the class
name is the runbook area (``opscheck.system_health``), so both readers group by area.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

from lms_opscheck import atomic
from lms_opscheck.probes.redaction import redact
from lms_opscheck.record import CheckRecord, Results, describe

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: object) -> str:
    return _ILLEGAL_XML.sub("\ufffd", redact(str(value)))


def testcase_name(check: CheckRecord) -> str:
    """``HLT-01 test_x[<subject>]``; the subject is taken whole (an IPv6 URL holds ``::``)."""
    function = check.nodeid.split("[", 1)[0].split("::")[-1]
    return f"{check.control.id} {function}" + (f"[{check.subject}]" if check.subject else "")


def classname(check: CheckRecord) -> str:
    area = re.sub(r"[^a-z0-9]+", "_", check.control.area.lower()).strip("_") or "checks"
    return f"opscheck.{area}"


def properties(check: CheckRecord, env: str) -> list[tuple[str, str]]:
    """What an alert rule on JUnit reads (GitLab ignores properties; Jenkins shows them)."""
    control = check.control
    props = [
        ("control_id", control.id),
        ("severity", control.severity),
        ("runbook", control.runbook),
        ("env", env),
        ("outcome", check.outcome),
    ]
    optional = {
        "runbook_url": check.runbook_url,
        "remediation": control.remediation,
        "target": check.target,
        "category": check.category,
    }
    props += [(name, value) for name, value in optional.items() if value]
    if check.evidence:
        props.append(("measured", "; ".join(f"{e.name}={e.value}" for e in check.evidence)))
        limits = [f"{e.name} {e.threshold}" for e in check.evidence if e.threshold]
        if limits:
            props.append(("threshold", "; ".join(limits)))
    props += [(f"evidence.{e.name}", describe(e).split(" = ", 1)[1]) for e in check.evidence]
    return props


def _outcome_element(check: CheckRecord) -> ET.Element | None:
    if check.outcome == "passed":
        return None
    tag = {"failed": "failure", "error": "error", "skipped": "skipped", "waived": "skipped"}
    element = ET.Element(tag[check.outcome])
    first = check.body().splitlines()[0] if check.outcome != "skipped" else check.message
    if check.outcome == "waived" and check.waiver is not None:
        first = f"waived by {check.waiver.ticket} until {check.waiver.expires}: {check.headline()}"
    element.set("message", _text(first))
    element.text = _text(check.body())
    return element


def build(results: Results) -> ET.ElementTree:
    run, summary = results.run, results.summary
    root = ET.Element("testsuites", name="lms-opscheck")
    suite = ET.SubElement(
        root,
        "testsuite",
        name=f"lms-opscheck {run.env}",
        tests=str(summary.total),
        failures=str(summary.failed),
        errors=str(summary.errors),
        skipped=str(summary.skipped + summary.waived),
        time=f"{sum(c.duration_s for c in results.checks):.3f}",
        timestamp=run.started_at,
        hostname=run.host,
    )
    suite_props = ET.SubElement(suite, "properties")
    for name, value in suite_properties(results).items():
        ET.SubElement(suite_props, "property", name=name, value=_text(value))
    for check in results.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=classname(check),
            name=_text(testcase_name(check)),
            file=check.nodeid.split("::")[0],
            time=f"{check.duration_s:.3f}",
        )
        props = ET.SubElement(case, "properties")
        for name, value in properties(check, run.env):
            ET.SubElement(props, "property", name=name, value=_text(value))
        outcome = _outcome_element(check)
        if outcome is not None:
            case.append(outcome)
    for element in (root, suite):
        element.set("tests", suite.get("tests", "0"))
    return ET.ElementTree(root)


def suite_properties(results: Results) -> Mapping[str, str]:
    run = results.run
    values = {
        "env": run.env,
        "env_identity": run.env_identity,
        "run_id": run.id,
        "suite_version": run.suite_version,
        "selection": run.selection,
        "keywords": run.keywords,
        "host": run.host,
        "fail_on": run.fail_on,
        "verdict": results.verdict(),
    }
    if run.interrupted:
        values["interrupted"] = run.interrupted
    return values


def write(results: Results, path: Path) -> None:
    """Atomically, so a CI uploader never reads half a file."""
    tree = build(results)
    ET.indent(tree)
    with atomic.replacing(path) as temporary:
        tree.write(temporary, encoding="utf-8", xml_declaration=True)
