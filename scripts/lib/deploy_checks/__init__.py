"""deploy_checks: offline checks of the deployment files (scripts/test runs it).

- helm (helm/erp-platform): values.yaml validates against values.schema.json (itself a valid
  draft-07 schema); every `.Values.a.b` a template names is defined in values.yaml; every
  `include` names a defined template and every `.Files` path a file of the chart; every
  `APP_*` name in the chart and the deployment READMEs is a setting the services read
  (the fields of `Settings` in common/src/config.rs: an unknown key is only a warning at
  start, so a typo would do nothing), or one the Redis work announced; every
  template is well-formed YAML once its template actions are replaced by placeholders, and
  each document has apiVersion and kind; values.yaml holds nothing that looks like a secret.
  When a Helm engine is at hand (a `helm` binary on PATH, else the helm-python-sdk module,
  Helm built as a library), `helm lint --strict` and `helm template` run too, with the
  defaults and other value sets, and the rendered manifests are checked (probes, grace
  period, non-root read-only containers, secrets only through secretKeyRef); a grace
  period shorter than the drain and a mistyped value must be refused.
- terraform (terraform/): `terraform fmt -check -recursive`, then `init -backend=false` with
  the local provider mirror and `validate` for the root module and every example, then
  `terraform test` (plan-time tests against a mocked provider, terraform/tests), in a
  temporary copy (no .terraform lands in the tree). Skipped, saying why, without terraform
  or without a mirror (TF_PLUGIN_DIR, else /opt/tf-plugins or ~/.terraform.d/plugins).
- observability (helm/erp-platform/files): every metric the Grafana dashboards and the
  Prometheus alert rules name is one the services export, with labels its source file
  gives it (or Prometheus adds); every expression parses (with the promql-parser package
  when installed, else its brackets balance); the rules are well-formed.
  The exported names are read from the Rust sources: the first argument of every
  `counter!`/`gauge!`/`histogram!` call (a histogram adds `_bucket`, `_sum`, `_count`), and,
  in a file that passes a name through a variable (`gauge!(name)`), the string literals that
  start with a prefix the literal names use (`runtime_`, `erp_`) or the crate's own short
  name (`control_` in control-plane). Reading the sources rather than a
  running service's /metrics keeps the check offline and covers series that appear only
  after some event (a failed job, an evicted pool).

Then a self-test (selftest.py) breaks a copy of each input once (a wrong value type, an
unknown `.Values` path, an undefined include, a misspelt setting, broken YAML, a secret in values.yaml, an
unknown metric or label, a malformed rule, PromQL that does not parse, badly formatted
Terraform, and with a Helm engine a readiness probe gone) and requires the matching check
to fail, so no check passes vacuously.

Entry point: scripts/check-deploy [--no-self-test]; exit status 1 when any check fails.
"""

import sys

from .common import CHART, RUST_SOURCES, TERRAFORM, log
from .helm_static import helm_checks
from .observability import observability_checks
from .selftest import self_test
from .terraform import terraform_checks


def main():
    errors = helm_checks(CHART)
    errors += observability_checks(CHART, RUST_SOURCES)
    errors += terraform_checks(TERRAFORM)
    if "--no-self-test" not in sys.argv[1:]:
        errors += self_test()
    for error in errors:
        print(f"check-deploy: error: {error}", file=sys.stderr)
    if errors:
        log(f"{len(errors)} problem(s)")
        return 1
    log("all deployment checks passed")
    return 0
