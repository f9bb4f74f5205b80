"""Each check proven able to fail: a copy of its input broken once must make it fail."""

import re
import shutil
import tempfile
from pathlib import Path

from .common import CHART, RUST_SOURCES, TERRAFORM, log
from .helm_render import helm_engine, helm_engine_checks
from .helm_static import (check_includes_and_files, check_no_secrets, check_settings_exist,
                          check_template_yaml, check_values_references, check_values_schema)
from .observability import check_alert_rules, check_dashboards, exported_metrics
from .terraform import check_terraform_fmt


def chart_cases():
    """(what breaks, the check, the file of the chart, how to break it, what the error says)."""
    exported = exported_metrics(RUST_SOURCES)

    def alerts(chart):
        return check_alert_rules(chart, exported)

    cases = [
        ("a wrong value type", check_values_schema, "values.yaml",
         lambda t: t.replace("  replicas: 2\n", '  replicas: "two"\n', 1), "replicas"),
        ("an unknown .Values path", check_values_references, "templates/control-plane.yaml",
         lambda t: t.replace("$values.replicas }}", "$values.replicas }}{{ .Values.controlPlane.nope }}", 1),
         "nope"),
        ("an include of an undefined template", check_includes_and_files, "templates/pdb.yaml",
         lambda t: t.replace('include "erp.selectorLabels"', 'include "erp.selectorLabel"', 1),
         "erp.selectorLabel`"),
        ("a misspelt setting", check_settings_exist, "templates/configmap.yaml",
         lambda t: t.replace("APP_TENANT_RUNTIME__MAX_POOLS:", "APP_TENANT_RUNTIME__MAX_POOL:", 1),
         "APP_TENANT_RUNTIME__MAX_POOL is not"),
        ("broken template YAML", check_template_yaml, "templates/hpa.yaml",
         lambda t: t.replace("  minReplicas:", "  minReplicas: [unclosed\n  minReplicas:", 1), "hpa.yaml"),
        ("a secret in values.yaml", check_no_secrets, "values.yaml",
         lambda t: t + "extraConfig:\n  APP_BILLING__API_BASE_URL: sk_live_abcdefghijklmnop\n", "Stripe"),
        ("an unknown metric in an alert", alerts, ALERTS,
         lambda t: t.replace("expr: ", "expr: erp_no_such_metric_total > 0 or ", 1), "erp_no_such_metric_total"),
        ("a malformed alert rule", alerts, ALERTS,
         lambda t: re.sub(r"\bfor: \S+", "for: soon", t, count=1), "not a duration"),
        ("a label the metric does not carry", alerts, ALERTS,
         lambda t: t.replace('outcome="failed"', 'result="failed"', 1), "no label `result`"),
        ("an expression that does not parse", alerts, ALERTS,
         lambda t: t.replace("expr: max by (kind) (", "expr: max by (kind) ((", 1), ("parse", "unclosed")),
        ("an unknown metric in a dashboard", lambda chart: check_dashboards(chart, exported),
         "files/grafana/runtime.json",
         lambda t: t.replace('"expr": "', '"expr": "made_up_metric + ', 1), "made_up_metric"),
    ]
    if helm_engine()[1]:
        cases.append(("a readiness probe gone (rendered)", helm_engine_checks, "templates/tenant-runtime.yaml",
                      lambda t: t.replace("path: /readyz", "path: /healthz", 1), "/readyz"))
    return cases


ALERTS = "files/prometheus/alerts.yaml"


def self_test():
    """Breaks a copy of each input once; every check must notice."""
    cases = chart_cases()
    failures = [failure for case in cases for failure in run_case(*case)]
    if shutil.which("terraform"):
        cases.append("badly formatted terraform")
        failures += terraform_self_test()
    log(f"self-test: {len(cases)} deliberate breakages: "
        f"{'some went unnoticed' if failures else 'each one caught'}")
    return failures


def run_case(title, check, file, breaks, expected):
    """Runs `check` on a copy of the chart with `file` broken; its errors must say `expected`."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "chart"
        shutil.copytree(CHART, copy)
        target = copy / file
        original = target.read_text()
        if breaks(original) == original:
            return [f"self-test: {title}: the breakage did not apply to {file}"]
        target.write_text(breaks(original))
        found = check(copy)
    expected = (expected,) if isinstance(expected, str) else expected
    if not any(text in error for error in found for text in expected):
        return [f"self-test: {title}: the check did not fail ({found})"]
    return []


def terraform_self_test():
    """Badly formatted Terraform must fail `terraform fmt -check`."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "terraform"
        shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform"))
        (copy / "badly_formatted.tf").write_text('locals {\nx=1\n  yy   = 2\n}\n')
        if not check_terraform_fmt(copy):
            return ["self-test: badly formatted terraform: fmt -check did not fail"]
    return []
