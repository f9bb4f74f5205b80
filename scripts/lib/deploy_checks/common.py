"""What every check shares: the repository's paths, the log line, and running a list of
checks with one line of outcome each."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "helm" / "erp-platform"
TERRAFORM = ROOT / "terraform"
RUST_SOURCES = [ROOT / crate / "src" for crate in ("common", "control-plane", "tenant-runtime", "provisioner")]


def log(message):
    print(f"check-deploy: {message}", file=sys.stderr)


def run_checks(area, checks, target):
    """Runs each (title, check) on `target`, logging one line per check; all errors found."""
    errors = []
    for title, check in checks:
        found = check(target)
        log(f"{area}: {title}: {'FAILED' if found else 'ok'}")
        errors += found
    return errors
