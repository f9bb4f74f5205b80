"""Rendering the chart with a real Helm engine (a `helm` binary, else the helm-python-sdk
package, Helm built as a library): lint, render several value sets, check the manifests,
and require the value sets the chart must refuse to fail."""

import json
import shutil
import subprocess
import tempfile

import yaml


RENDER_CASES = {
    "defaults": {},
    "everything on": {
        "redis": {"url": {"name": "erp-redis", "key": "url"}},
        "secretRefs": {name: {"name": "erp-extra", "key": name} for name in (
            "tokenSigningKey", "previousKeys", "bootstrapAdminPassword", "smtpUrl",
            "stripeSecretKey", "stripeWebhookSecrets", "s3AccessKeyId", "s3SecretAccessKey")},
        "backups": {"store": "s3", "s3": {"bucket": "erp-backups", "prefix": "prod",
                                          "endpoint": "https://s3.example.com", "pathStyle": True}},
        "extraConfig": {"APP_BILLING__GRACE_PERIOD_DAYS": "5"},
        "tenantRuntime": {"autoscaling": {"enabled": False}, "replicas": 3,
                          "serviceAccountAnnotations": {"example.com/role": "runtime"}},
        "provisioner": {"backupVolume": {"existingClaim": "erp-backups"}},
        "serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True},
        "grafanaDashboards": {"enabled": True},
        "ingress": {"className": "nginx", "tls": {"enabled": False}},
        "imagePullSecrets": [{"name": "registry"}],
        "controlPlane": {"nodeSelector": {"pool": "platform"}, "podAnnotations": {"a": "b"}},
    },
    "no migration hook, no service accounts": {
        "migrationJob": {"enabled": False}, "serviceAccount": {"create": False},
        "preStopSleepSeconds": 0,
    },
}
REFUSED_CASES = {
    "a grace period shorter than the drain": {"controlPlane": {"terminationGracePeriodSeconds": 12}},
    "a value of the wrong type": {"provisioner": {"replicas": "two"}},
    "an s3 backup store without a bucket": {"backups": {"store": "s3"}},
}
# Settings that must come from a Secret, never as a plain `value`.
SECRET_ENV = {"APP_DATABASE__URL", "APP_SECRETS__ENCRYPTION_KEY", "APP_SECRETS__TOKEN_SIGNING_KEY",
              "APP_SECRETS__PREVIOUS_KEYS", "APP_BOOTSTRAP__ADMIN_PASSWORD", "APP_MAIL__SMTP_URL",
              "APP_BILLING__SECRET_KEY", "APP_BILLING__WEBHOOK_SECRETS", "APP_REDIS__URL",
              "APP_BACKUPS__S3__ACCESS_KEY_ID", "APP_BACKUPS__S3__SECRET_ACCESS_KEY"}


# The oldest Kubernetes the chart supports (Chart.yaml's kubeVersion).
KUBE_VERSION = "1.30.0"


class RenderFailed(Exception):
    pass


def helm_engine():
    """`helm` on PATH, else the helm-python-sdk module (Helm as a library), else None."""
    if shutil.which("helm"):
        return "helm binary", HelmBinary()
    try:
        import helm_python
    except ImportError:
        return None, None
    return f"helm-python-sdk (Helm {helm_python.helm_sdk_version()})", HelmLibrary(helm_python)


class HelmBinary:
    def lint(self, chart):
        done = subprocess.run(["helm", "lint", "--strict", "--kube-version", KUBE_VERSION, str(chart)],
                              capture_output=True, text=True)
        return [] if done.returncode == 0 else [f"helm lint --strict:\n{done.stdout}{done.stderr}"]

    def render(self, chart, values):
        with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
            json.dump(values, file)
            file.flush()
            done = subprocess.run(["helm", "template", "erp-platform", str(chart), "--namespace",
                                   "erp", "--kube-version", KUBE_VERSION, "--values", file.name],
                                  capture_output=True, text=True)
        if done.returncode != 0:
            raise RenderFailed(done.stderr.strip())
        return done.stdout


class HelmLibrary:
    def __init__(self, module):
        self.helm = module

    def lint(self, chart):
        report = self.helm.lint(str(chart), strict=True, kube_version=f"v{KUBE_VERSION}")
        return [f"helm lint: {m['path']}: {m['error']}" for m in report.get("messages", [])
                if m.get("severity", 0) >= 2] + [f"helm lint: {e}" for e in report.get("errors", [])]

    def render(self, chart, values):
        try:
            loaded = self.helm.Chart.load(str(chart))
            manifests = loaded.render(values or None, name="erp-platform", namespace="erp",
                                      is_install=True)
        except self.helm.HelmError as error:
            raise RenderFailed(str(error)) from error
        return "\n---\n".join(text for path, text in sorted(manifests.items())
                               if not path.endswith("NOTES.txt"))


def helm_engine_checks(chart):
    """Lint, render every value set and check what came out; refused sets must fail."""
    name, engine = helm_engine()
    errors = engine.lint(chart)
    for case, values in RENDER_CASES.items():
        try:
            documents = [d for d in yaml.safe_load_all(engine.render(chart, values)) if d]
        except (RenderFailed, yaml.YAMLError) as error:
            errors.append(f"helm template ({case}): {error}")
            continue
        errors += [f"helm template ({case}): {problem}"
                   for problem in rendered_problems(documents, values, chart)]
    for case, values in REFUSED_CASES.items():
        try:
            engine.render(chart, values)
            errors.append(f"helm template accepted {case}")
        except RenderFailed:
            pass
    return errors


def rendered_problems(documents, values, chart):
    """What the rendered manifests must show whatever the values."""
    problems = []
    kinds = [document.get("kind") for document in documents]
    for expected in ("Deployment", "Service", "ConfigMap", "PodDisruptionBudget"):
        if expected not in kinds:
            problems.append(f"no {expected} rendered")
    for document in documents:
        if document.get("kind") == "Deployment":
            problems += deployment_problems(document)
        if document.get("kind") == "PrometheusRule" and not document["spec"].get("groups"):
            problems.append("the PrometheusRule has no groups")
    if values.get("grafanaDashboards", {}).get("enabled"):
        dashboards = [d for d in documents if d["kind"] == "ConfigMap" and "-dashboard-" in d["metadata"]["name"]]
        if len(dashboards) != len(list((chart / "files" / "grafana").glob("*.json"))):
            problems.append("not one dashboard ConfigMap per files/grafana/*.json")
    return problems


def deployment_problems(deployment):
    name = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    problems = []
    for container in pod["containers"]:
        context = container.get("securityContext", {})
        if not (context.get("readOnlyRootFilesystem") and context.get("runAsNonRoot")):
            problems.append(f"{name}: not read-only and non-root")
        env = {entry["name"]: entry for entry in container.get("env", [])}
        if "APP_LIMITS__REPLICAS" not in env:
            problems.append(f"{name}: no APP_LIMITS__REPLICAS")
        problems += [f"{name}: {key} given as a plain value" for key in SECRET_ENV
                     if key in env and "valueFrom" not in env[key]]
        if container.get("ports"):
            probes = (container.get("livenessProbe", {}).get("httpGet", {}).get("path"),
                      container.get("readinessProbe", {}).get("httpGet", {}).get("path"))
            if probes != ("/healthz", "/readyz"):
                problems.append(f"{name}: liveness/readiness are not /healthz and /readyz: {probes}")
            pause = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
            if pod.get("terminationGracePeriodSeconds", 30) <= pause + 10:
                problems.append(f"{name}: the grace period does not cover the pause and the 10 s drain")
    return problems
