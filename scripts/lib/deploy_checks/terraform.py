"""terraform fmt, and an offline init + validate + test of the root module and the examples
in a temporary copy, with the local provider mirror."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .common import log, run_checks


def plugin_mirror():
    candidates = [os.environ.get("TF_PLUGIN_DIR"), "/opt/tf-plugins",
                  str(Path.home() / ".terraform.d" / "plugins")]
    return next((Path(c) for c in candidates if c and Path(c, "registry.terraform.io").is_dir()),
                None)


def terraform(args, cwd, env):
    return subprocess.run(["terraform", *args], cwd=cwd, env=env, capture_output=True, text=True)


def terraform_env(scratch):
    config = Path(scratch) / "terraformrc"
    config.write_text("")
    return dict(os.environ, TF_CLI_CONFIG_FILE=str(config), CHECKPOINT_DISABLE="1",
                TF_IN_AUTOMATION="1")


def check_terraform_fmt(tree):
    with tempfile.TemporaryDirectory() as scratch:
        done = terraform(["fmt", "-check", "-recursive", "-diff", "-no-color"], tree,
                         terraform_env(scratch))
    if done.returncode != 0:
        return [f"terraform fmt -check: not formatted (run `terraform fmt -recursive "
                f"terraform`):\n{done.stdout}{done.stderr}"]
    return []


def check_terraform_validate(tree, mirror):
    """init (offline, no backend) and validate the root module and each example in a copy."""
    errors = []
    with tempfile.TemporaryDirectory() as scratch:
        env = terraform_env(scratch)
        copy = Path(scratch) / "terraform"
        shutil.copytree(tree, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
        modules = [copy] + sorted(p for p in (copy / "examples").glob("*") if p.is_dir())
        for module in modules:
            name = module.relative_to(copy.parent)
            init = terraform(["init", "-backend=false", "-input=false", "-no-color",
                              f"-plugin-dir={mirror}"], module, env)
            if init.returncode != 0:
                errors.append(f"{name}: terraform init failed:\n{init.stdout}{init.stderr}")
                continue
            done = terraform(["validate", "-no-color"], module, env)
            if done.returncode != 0:
                errors.append(f"{name}: terraform validate failed:\n{done.stdout}{done.stderr}")
                continue
            log(f"terraform: {name} is valid")
            if (module / "tests").is_dir():
                errors += terraform_tests(module, name, env)
    return errors


def terraform_tests(module, name, env):
    """`terraform test`: the plan-time tests against a mocked provider (tests/*.tftest.hcl)."""
    done = terraform(["test", "-no-color"], module, env)
    summary = next((line for line in done.stdout.splitlines()
                    if line.startswith(("Success!", "Failure!"))), "no summary")
    if done.returncode != 0:
        return [f"{name}: terraform test failed:\n{done.stdout}{done.stderr}"]
    log(f"terraform: terraform test in {name} (mocked provider): {summary}")
    return []


def terraform_checks(tree):
    if not shutil.which("terraform"):
        log("terraform: no terraform binary on PATH: fmt and validate skipped")
        return []
    checks = [("terraform fmt -check -recursive", check_terraform_fmt)]
    # init with -plugin-dir needs every provider in the mirror; ours holds hashicorp/aws.
    mirror = plugin_mirror()
    if mirror:
        checks.append((f"init (mirror {mirror}) and validate",
                       lambda t: check_terraform_validate(t, mirror)))
    else:
        log("terraform: no provider mirror (TF_PLUGIN_DIR, /opt/tf-plugins, "
            "~/.terraform.d/plugins): init and validate skipped")
    return run_checks("terraform", checks, tree)
