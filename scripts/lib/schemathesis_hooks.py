"""Hooks for scripts/schemathesis: values a schema cannot know.

Some fields must name something that exists (a plan, a role, a permission, a reachable
server) or be a value the API itself gave out (a pagination cursor). A made-up one is
rightly refused, so wherever a generated case carries such a field it gets a real one
here, in every phase. An `Idempotency-Key` names one request: reused with another body it
is rightly refused (422 `idempotency_key_reused`), so it is derived from the body. Nothing
else is changed.
"""

import hashlib
import json
import os

import schemathesis

PLAN = "starter"
# Cursors the API would give out: base64url of a migration run id / of the tenant list's
# `[sort value, id]` (the nil id fits every sort) / of an audit entry id / of a Stripe
# event's `{received_at}|{id}`.
TENANT_CURSOR = "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"
TENANT_LIST_CURSOR = "WyIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAiLCIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAiXQ"
AUDIT_CURSOR = "OTAwMDAwMDAw"
EVENT_CURSOR = "MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHxldnRfMA"

BODY = {
    ("POST", "/api/v1/tenants"): {"plan": PLAN},
    ("PATCH", "/api/v1/tenants/{id}"): {"plan": PLAN},
    ("POST", "/api/v1/tenants/{id}/billing/plan"): {"plan": PLAN},
    ("POST", "/api/v1/signup"): {"plan": PLAN},
    # Registering needs an admin URL that connects: the platform's own cluster, with no
    # spares so that the run does not fill it with databases.
    ("POST", "/api/v1/servers"): {
        "admin_url": os.environ.get("SCHEMATHESIS_SERVER_URL", ""),
        "spare_target": 0,
    },
    ("POST", "/api/v1/users"): {"roles": ["staff"]},
    ("PATCH", "/api/v1/users/{id}"): {"roles": ["staff"]},
    ("POST", "/api/v1/roles"): {"permissions": ["users.read"]},
    ("PATCH", "/api/v1/roles/{id}"): {"permissions": ["users.read"]},
}

QUERY = {
    ("GET", "/api/v1/tenants"): {"cursor": TENANT_LIST_CURSOR},
    ("GET", "/api/v1/audit"): {"cursor": AUDIT_CURSOR},
    ("GET", "/api/v1/billing/events"): {"cursor": EVENT_CURSOR},
    # A migration run's cursor, and one over a run's tenants, are base64url ids.
    ("GET", "/api/v1/migrations/runs"): {"cursor": TENANT_CURSOR},
    ("GET", "/api/v1/migrations/runs/{id}"): {"cursor": TENANT_CURSOR},
}


def replace_present(container, values):
    """Sets each of `values` that `container` (a mapping) already has."""
    if container is not None and hasattr(container, "keys"):
        for key, value in values.items():
            if key in container:
                container[key] = value


@schemathesis.hook
def map_case(context, case):
    key = (case.operation.method.upper(), case.operation.path)
    replace_present(case.body, BODY.get(key, {}))
    replace_present(case.query, QUERY.get(key, {}))
    if case.headers is not None and "Idempotency-Key" in case.headers:
        body = json.dumps(case.body, sort_keys=True, default=str).encode()
        case.headers["Idempotency-Key"] = hashlib.sha256(body).hexdigest()
    return case
