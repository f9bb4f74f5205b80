"""The chart's checks that need no Helm: values against the schema, `.Values` references,
the YAML of the templates with their actions stripped, no secret in values.yaml; then the
rendering checks of helm_render when a Helm engine is at hand."""

import json
import re

import jsonschema
import yaml

from .common import ROOT, log, run_checks
from .helm_render import helm_engine, helm_engine_checks


def check_values_schema(chart):
    """values.yaml against values.schema.json (draft-07), and every schema leaf typed."""
    schema = json.loads((chart / "values.schema.json").read_text())
    values = yaml.safe_load((chart / "values.yaml").read_text())
    errors = []
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        return [f"values.schema.json is not a valid draft-07 schema: {error.message}"]
    for error in jsonschema.Draft7Validator(schema).iter_errors(values):
        where = ".".join(str(part) for part in error.absolute_path) or "(root)"
        errors.append(f"values.yaml: {where}: {error.message}")
    errors += untyped_schema_nodes(schema.get("properties", {}), "")
    return errors


def untyped_schema_nodes(properties, prefix):
    """Names of schema properties without a `type` (every value must be typed)."""
    missing = []
    for name, node in properties.items():
        path = f"{prefix}{name}"
        if "type" not in node and "enum" not in node:
            missing.append(f"values.schema.json: `{path}` has no type")
        missing += untyped_schema_nodes(node.get("properties", {}), f"{path}.")
    return missing


VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def check_values_references(chart):
    """Every `.Values.x.y` in a template names a value defined in values.yaml."""
    values = yaml.safe_load((chart / "values.yaml").read_text())
    errors = []
    for template in sorted((chart / "templates").glob("*")):
        for number, line in enumerate(template.read_text().splitlines(), 1):
            for match in VALUES_REF.finditer(line):
                path = match.group(1).lstrip(".").split(".")
                if not defined(values, path):
                    errors.append(
                        f"{template.relative_to(chart)}:{number}: .Values.{'.'.join(path)} "
                        "is not defined in values.yaml")
    return errors


DEFINE = re.compile(r'{{-?\s*define\s+"([^"]+)"')
INCLUDE = re.compile(r'\b(?:include|template)\s+(?:\(\s*print\s+)?"([^"]+)"')
FILES = re.compile(r'\.Files\.(?:Get|Glob)\s+"([^"]+)"')


def check_includes_and_files(chart):
    """Every `include`/`template` names a defined template; every `.Files` path matches a file."""
    templates = sorted((chart / "templates").glob("*"))
    defined_names = {name for t in templates for name in DEFINE.findall(t.read_text())}
    errors = []
    for template in templates:
        text = template.read_text()
        errors += [f"{template.name}: includes `{name}`, which no template defines"
                   for name in INCLUDE.findall(text) if name not in defined_names and "/" not in name]
        errors += [f"{template.name}: .Files path `{path}` matches no file of the chart"
                   for path in FILES.findall(text) if not list(chart.glob(path))]
    return errors


STRUCT = re.compile(r"pub struct (\w+) \{(.*?)\n\}", re.S)
FIELD = re.compile(r"^\s*pub (\w+): ([\w<>]+),", re.M)
ENV_NAME = re.compile(r"\bAPP_[A-Z0-9_]*[A-Z0-9]")
# Settings the chart may name before the services read them (none now).
ANNOUNCED_SETTINGS = set()
# Names that stand for any setting in prose.
PLACEHOLDER_SETTINGS = {"APP_SECTION__KEY"}


def setting_names(sources=(ROOT / "common" / "src",)):
    """Every `APP_SECTION__KEY` the services read: the fields of `Settings` in
    common/src/config.rs, walked into nested structs (`APP_TENANT_RUNTIME__WEBHOOKS__...`)."""
    structs = {}
    for root in sources:
        for file in root.rglob("*.rs"):
            for name, body in STRUCT.findall(file.read_text()):
                structs.setdefault(name, FIELD.findall(body))
    names, pending = set(), [("APP", "Settings")]
    while pending:
        prefix, struct = pending.pop()
        for field, kind in structs.get(struct, []):
            inner = re.sub(r"^(Option|Vec)<(\w+)>$", r"\2", kind)
            env = f"{prefix}_{field.upper()}" if prefix == "APP" else f"{prefix}__{field.upper()}"
            if inner in structs:
                pending.append((env, inner))
            else:
                names.add(env)
    return names


def check_settings_exist(chart):
    """Every APP_* name the chart, the Terraform and the deployment READMEs use is a setting
    the services read: an unknown one is only a warning at start, so a typo would silently
    do nothing."""
    known = setting_names()
    if "APP_DATABASE__URL" not in known or len(known) < 40:
        return [f"only {len(known)} settings found in common/src: the scan is broken"]
    files = sorted((chart / "templates").glob("*")) + [chart / "values.yaml"]
    files += [chart.parent / "README.md", ROOT / "terraform" / "README.md"]
    files += sorted((ROOT / "terraform").rglob("*.tf"))
    errors = []
    for file in files:
        used = set(ENV_NAME.findall(file.read_text())) if file.exists() else set()
        errors += [f"{file.name}: {name} is not a setting of the services (common/src/config.rs)"
                   for name in sorted(used - known - ANNOUNCED_SETTINGS - PLACEHOLDER_SETTINGS)]
    return errors


def defined(values, path):
    node = values
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


ACTION = re.compile(r"{{-?(.*?)-?}}", re.S)
CONTENT_ACTION = re.compile(r"\b(include|toYaml|template|tpl|toJson)\b|\.Files\.Get")
ASSIGNMENT = re.compile(r"^\s*\$\w*\s*:?=")
NINDENT = re.compile(r"\bnindent\s+(\d+)")


def strip_template(text):
    """The template's text with its actions replaced, line by line, so YAML can parse it.

    A line made only of actions is dropped when they are control flow (if, range, end,
    define, variables) and becomes a placeholder entry, at the indentation its `nindent`
    gives, when they emit content (include, toYaml, .Files.Get); a placeholder is a list
    item when its neighbours at that indentation are list items. An action inside a line
    becomes the word `x`. Both branches of an if/else are kept (duplicate keys parse).
    """
    text = re.sub(r"{{-?\s*/\*.*?\*/\s*-?}}", "", text, flags=re.S)
    lines = text.splitlines()
    out = []
    for index, line in enumerate(lines):
        if ACTION.sub("", line).strip():
            out.append(ACTION.sub("x", line))
            continue
        actions = ACTION.findall(line)
        # An assignment (`$_ := include ...`) emits nothing, whatever it calls.
        emitting = [a for a in actions if CONTENT_ACTION.search(a) and not ASSIGNMENT.match(a)]
        if not emitting:
            continue
        nindent = next((NINDENT.search(a) for a in emitting if NINDENT.search(a)), None)
        indent = int(nindent.group(1)) if nindent else len(line) - len(line.lstrip())
        as_item = neighbour_is_item(lines, index, indent)
        out.append(" " * indent + (f"- placeholder{index}" if as_item else f"placeholder{index}: x"))
    return "\n".join(out) + "\n"


def neighbour_is_item(lines, index, indent):
    """Whether the nearest sibling at `indent` (before, else after; deeper lines skipped,
    a shallower one ends the search) is a list item."""
    for step in (-1, 1):
        at = index + step
        while 0 <= at < len(lines):
            content = ACTION.sub("", lines[at]).split(" #")[0]
            if content.strip() and not content.strip().startswith("#"):
                depth = len(content) - len(content.lstrip())
                if depth == indent:
                    return content.lstrip().startswith("- ")
                if depth < indent:
                    break
            at += step
    return False


def check_template_yaml(chart):
    """Every template is well-formed YAML with its actions replaced; documents are objects."""
    errors = []
    for template in sorted((chart / "templates").glob("*.yaml")):
        name = template.relative_to(chart)
        try:
            documents = list(yaml.safe_load_all(strip_template(template.read_text())))
        except yaml.YAMLError as error:
            errors.append(f"{name}: not well-formed YAML once actions are stripped: {error}")
            continue
        for document in documents:
            if document is None:
                continue
            if not isinstance(document, dict) or not {"apiVersion", "kind"} <= document.keys():
                errors.append(f"{name}: a document without apiVersion and kind")
    return errors


SECRET_SHAPES = [
    (re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]{8,}"), "a Stripe API key"),
    (re.compile(r"\bwhsec_[A-Za-z0-9]{8,}"), "a Stripe webhook secret"),
    (re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"), "a URL with a password"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"^[A-Za-z0-9+/]{42,}={0,2}$"), "a base64 key"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key"),
]
SECRET_KEY_NAME = re.compile(r"(password|passwd|secret|token|apikey|api_key|privatekey)$", re.I)


def check_no_secrets(chart):
    """No value in values.yaml looks like a secret, and no secret-named key holds text."""
    values = yaml.safe_load((chart / "values.yaml").read_text())
    errors = []
    for path, value in leaves(values, []):
        if not isinstance(value, str) or not value:
            continue
        where = ".".join(path)
        for shape, what in SECRET_SHAPES:
            if shape.search(value):
                errors.append(f"values.yaml: {where} looks like {what}; name a Secret instead")
        if SECRET_KEY_NAME.search(path[-1]):
            errors.append(f"values.yaml: {where} holds a value under a secret's name; use secretRefs")
    return errors


def leaves(node, path):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, path + [str(key)])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, path + [str(index)])
    else:
        yield path, node


# Value sets the chart is rendered with when a Helm engine is at hand: the defaults, every
# optional part switched on, and the hook off; and two it must refuse.


def helm_checks(chart, with_engine=True):
    """Every check of the chart; the rendering ones only when a Helm engine is at hand."""
    checks = [
        ("values.yaml matches values.schema.json", check_values_schema),
        ("every .Values reference is defined", check_values_references),
        ("every include and .Files path resolves", check_includes_and_files),
        ("every APP_* name is a real setting", check_settings_exist),
        ("templates are well-formed YAML", check_template_yaml),
        ("no secret in values.yaml", check_no_secrets),
    ]
    engine, _ = helm_engine()
    if with_engine and engine:
        checks.append((f"lint and template with {engine}", helm_engine_checks))
    elif with_engine:
        log("helm: no helm binary on PATH (nor the helm-python-sdk module): "
            "`helm lint` and `helm template` skipped")
    return run_checks("helm", checks, chart)
