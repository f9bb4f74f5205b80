"""The dashboards and alert rules against what the services export: metric names and
label names read from the Rust sources, PromQL that parses, well-formed rule groups."""

import json
import re

import yaml

from .common import log, run_checks


MACRO_LITERAL = re.compile(r"\b(counter|gauge|histogram)!\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"")
MACRO_VARIABLE = re.compile(r"\b(counter|gauge|histogram)!\(\s*[a-z_][a-z0-9_]*\s*[,)]")
STRING_LITERAL = re.compile(r"\"([a-z][a-z0-9_]*)\"")
# Label names as the sources spell them: `"kind" => ...` or `("kind", ...)`.
LABEL_LITERAL = re.compile(r"\"([a-z_][a-z0-9_]*)\"\s*=>|\(\s*\"([a-z_][a-z0-9_]*)\"\s*,")
# Labels Prometheus adds to every series it scrapes (the ServiceMonitor keeps `service`,
# the services' own label, with honorLabels).
TARGET_LABELS = {"instance", "job", "namespace", "pod", "container", "endpoint", "__name__"}


def exported_metrics(sources):
    """Metric names the services register, read from their Rust sources, each with the
    label names its file uses (a file's metrics share its label literals: a superset, but
    a misspelt label still fails)."""
    metrics, prefixes, indirect = {}, set(), []
    for root in sources:
        for file in sorted(root.rglob("*.rs")):
            text = file.read_text()
            labels = {a or b for a, b in LABEL_LITERAL.findall(text)}
            for kind, name in MACRO_LITERAL.findall(text):
                metrics.setdefault(name, set()).update(labels)
                prefixes.add(name.split("_")[0])
                if kind == "histogram":
                    for suffix in ("_bucket", "_sum", "_count"):
                        metrics.setdefault(f"{name}{suffix}", set()).update(labels)
                    metrics[f"{name}_bucket"].add("le")
            if MACRO_VARIABLE.search(text):
                # The crate's own short name is a prefix too (`control_` in control-plane).
                indirect.append((text, labels, root.parent.name.split("-")[0]))
    for text, labels, crate in indirect:
        for literal in STRING_LITERAL.findall(text):
            if "_" in literal and literal.split("_")[0] in prefixes | {crate}:
                metrics.setdefault(literal, set()).update(labels)
    return metrics


PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "inf", "nan", "atan2"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")


def promql_metrics(expr):
    """The metric names a PromQL expression selects (functions, labels, keywords dropped)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\$\{[^}]*\}|\$[A-Za-z_]\w*", "", text)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = GROUPING.sub("", text)
    found = set()
    for match in re.finditer(r"(?<![0-9.A-Za-z_:])([A-Za-z_:][A-Za-z0-9_:]*)", text):
        name = match.group(1)
        if name in PROMQL_WORDS or re.match(r"\s*\(", text[match.end():]):
            continue
        found.add(name)
    return found


def promql_problems(expr, exported):
    """Unknown metrics, labels a metric does not carry, and syntax errors of an expression."""
    metrics = promql_metrics(expr)
    problems = [f"`{metric}` is not a metric the services export" for metric in sorted(metrics - exported.keys())]
    known = set().union(*(exported.get(metric, set()) for metric in metrics), TARGET_LABELS)
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    for metric, matchers in SELECTOR.findall(stripped):
        allowed = exported.get(metric, set()) | TARGET_LABELS
        problems += [f"`{metric}` has no label `{label}`" for label in MATCHER.findall(matchers)
                     if metric in exported and label not in allowed]
    for _, labels in GROUPING.findall(stripped):
        problems += [f"no metric of the expression has a label `{label}`"
                     for label in (l.strip() for l in labels.split(",")) if label and label not in known]
    problems += promql_syntax_problems(expr)
    return problems


def promql_syntax_problems(expr):
    """A parse with the promql-parser package when installed, else balanced brackets."""
    text = re.sub(r"\$__rate_interval|\$__interval|\$\{__rate_interval\}", "5m", expr)
    try:
        import promql_parser
    except ImportError:
        return balance_problems(text)
    try:
        promql_parser.parse(text)
    except Exception as error:  # the binding raises plain exceptions
        return [f"does not parse: {error}"]
    return []


def balance_problems(text):
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for char in text:
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return [f"unbalanced `{char}`"]
    return [f"unclosed `{stack[-1]}`"] if stack else []


DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
SEVERITIES = {"critical", "warning", "info"}


def check_alert_rules(chart, exported):
    """Rule groups well-formed; every alert named, timed, labelled, described; metrics known."""
    path = chart / "files" / "prometheus" / "alerts.yaml"
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        return [f"{path.name}: not YAML: {error}"]
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        return [f"{path.name}: needs a `groups` list"]
    errors, groups, alerts = [], set(), set()
    for group in document["groups"]:
        name = group.get("name") if isinstance(group, dict) else None
        if not isinstance(name, str) or name in groups:
            errors.append(f"{path.name}: a group needs a unique name (got {name!r})")
        groups.add(name)
        if not isinstance(group.get("rules"), list) or not group["rules"]:
            errors.append(f"{path.name}: group {name!r} has no rules")
            continue
        for rule in group["rules"]:
            errors += rule_problems(rule, alerts, exported, f"{path.name}: group {name!r}")
    return errors


def rule_problems(rule, alerts, exported, where):
    if not isinstance(rule, dict):
        return [f"{where}: a rule is not a mapping"]
    name = rule.get("alert")
    errors = []
    if not isinstance(name, str) or not re.match(r"^[A-Z][A-Za-z0-9]+$", name) or name in alerts:
        errors.append(f"{where}: an alert needs a unique CamelCase name (got {name!r})")
    alerts.add(name)
    expr = rule.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        return errors + [f"{where}: {name}: no expr"]
    if "for" in rule and not DURATION.match(str(rule["for"])):
        errors.append(f"{where}: {name}: `for` is not a duration: {rule['for']!r}")
    labels = rule.get("labels") or {}
    if labels.get("severity") not in SEVERITIES:
        errors.append(f"{where}: {name}: labels.severity must be one of {sorted(SEVERITIES)}")
    annotations = rule.get("annotations") or {}
    for key in ("summary", "description"):
        if not isinstance(annotations.get(key), str) or not annotations[key].strip():
            errors.append(f"{where}: {name}: annotations.{key} missing")
    errors += [f"{where}: {name}: {problem}" for problem in promql_problems(expr, exported)]
    return errors


def check_dashboards(chart, exported):
    """Dashboards parse, have unique uids, and query only exported metrics."""
    errors, uids = [], set()
    files = sorted((chart / "files" / "grafana").glob("*.json"))
    if not files:
        return ["files/grafana: no dashboards"]
    for file in files:
        try:
            dashboard = json.loads(file.read_text())
        except json.JSONDecodeError as error:
            errors.append(f"{file.name}: not JSON: {error}")
            continue
        uid = dashboard.get("uid")
        if not dashboard.get("title") or not uid or uid in uids:
            errors.append(f"{file.name}: needs a title and a unique uid")
        uids.add(uid)
        for expr in dashboard_queries(dashboard):
            errors += [f"{file.name}: {problem}" for problem in promql_problems(expr, exported)]
    return errors


def dashboard_queries(dashboard):
    """Every PromQL expression of a dashboard: panel targets (rows' panels too) and the
    metric of `label_values(metric, label)` template variables."""
    panels = list(dashboard.get("panels", []))
    while panels:
        panel = panels.pop()
        panels += panel.get("panels", [])
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        match = re.match(r"^\s*label_values\((.+),\s*\w+\)\s*$", query or "")
        if variable.get("type") == "query" and match:
            yield match.group(1)


def observability_checks(chart, sources):
    exported = exported_metrics(sources)
    if len(exported) < 10 or "http_requests_total" not in exported:
        return [f"observability: only {len(exported)} metric names found in the sources; "
                "the scan is broken"]
    log(f"observability: {len(exported)} metric names exported by the services")
    return run_checks("observability", [
        ("alert rules well-formed, metrics exported", lambda c: check_alert_rules(c, exported)),
        ("dashboards query exported metrics", lambda c: check_dashboards(c, exported)),
    ], chart)
