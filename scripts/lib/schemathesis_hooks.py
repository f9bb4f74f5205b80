"""Hooks for scripts/schemathesis: values a schema cannot know.

Some fields must name something that exists (a plan, a role, a permission, a reachable
server, a category) or be a value the API itself gave out (a pagination cursor), and some
rules join two fields (a transfer's two locations), which a schema cannot say. A made-up one is
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
# event's `{received_at}|{id}` / of a job's `{created_at}|{id}`.
TENANT_CURSOR = "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"
TENANT_LIST_CURSOR = "WyIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAiLCIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAiXQ"
AUDIT_CURSOR = "OTAwMDAwMDAw"
JOB_CURSOR = "MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHwwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA"
EVENT_CURSOR = "MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHxldnRfMA"

# The ERP's cursors: master data lists carry base64url of the last sort key (here "zzz",
# past every generated SKU); stock movements and on-hand an entry / row number; lots a
# lot id; webhook lists base64url of an id's 16 bytes.
MASTERS_CURSOR = "enp6"
NUMBER_CURSOR = "9000000000"
UUID_CURSOR = "00000000-0000-0000-0000-000000000000"
BYTES_CURSOR = "AAAAAAAAAAAAAAAAAAAAAA"

# A CSV import's body must start with the export's header (a made-up one is rightly 422
# `csv_header_invalid`): the header alone, an import of nothing.
CSV_BODY = {
    ("POST", "/api/v1/items/import"): "sku,name,description,kind,base_unit,category,"
    "reorder_point,standard_cost,lot_tracked,active,units\n",
    ("POST", "/api/v1/partners/import"): "code,name,is_customer,is_supplier,email,phone,"
    "tax_id,payment_terms_days,notes,active\n",
}

# A webhook target must be reachable and allowed: the loopback network scripts/schemathesis
# allows the runtime (nothing listens on port 9: registration succeeds, delivery fails).
WEBHOOK_URL = "http://127.0.0.1:9/hook"

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
    # A new address must connect too: the same cluster's.
    ("PATCH", "/api/v1/servers/{id}"): {
        "admin_url": os.environ.get("SCHEMATHESIS_SERVER_URL", ""),
    },
    ("POST", "/api/v1/users"): {"roles": ["staff"]},
    ("PATCH", "/api/v1/users/{id}"): {"roles": ["staff"]},
    ("POST", "/api/v1/roles"): {"permissions": ["users.read"]},
    ("PATCH", "/api/v1/roles/{id}"): {"permissions": ["users.read"]},
    # A parent, category or base unit must exist (none: top level / uncategorised; `pcs`
    # is seeded); a conversion to the base unit itself is rightly refused (none given); a
    # partner is a customer, a supplier or both; an email is checked beyond the schema's
    # `format` (which schemathesis does not enforce).
    ("POST", "/api/v1/categories"): {"parent_id": None},
    ("PATCH", "/api/v1/categories/{id}"): {"parent_id": None},
    ("POST", "/api/v1/items"): {"category_id": None, "units": [], "base_unit": "pcs"},
    ("PATCH", "/api/v1/items/{id}"): {"category_id": None, "units": [], "base_unit": "pcs"},
    ("POST", "/api/v1/partners"): {"is_customer": True, "email": "buyer@example.com"},
    ("PATCH", "/api/v1/partners/{id}"): {"is_customer": True, "email": "buyer@example.com"},
    ("POST", "/api/v1/webhooks/endpoints"): {"url": WEBHOOK_URL},
    ("PATCH", "/api/v1/webhooks/endpoints/{id}"): {"url": WEBHOOK_URL},
    # A unit other than the base unit needs the item's conversion: the base unit (none).
    ("POST", "/api/v1/production/orders"): {"unit": None},
}

KANBAN_COLUMNS = {
    ("POST", "/api/v1/kanban/boards"),
    ("POST", "/api/v1/kanban/boards/{id}/columns"),
    ("PATCH", "/api/v1/kanban/columns/{id}"),
}

QUERY = {
    ("GET", "/api/v1/items"): {"after": MASTERS_CURSOR},
    ("GET", "/api/v1/partners"): {"after": MASTERS_CURSOR},
    ("GET", "/api/v1/warehouses"): {"after": MASTERS_CURSOR},
    ("GET", "/api/v1/stock/movements"): {"after": NUMBER_CURSOR},
    ("GET", "/api/v1/stock/on-hand"): {"after": NUMBER_CURSOR},
    ("GET", "/api/v1/lots"): {"after": UUID_CURSOR},
    # Sales and purchase orders page by base64url of the last order's id (text).
    ("GET", "/api/v1/sales-orders"): {"after": TENANT_CURSOR},
    ("GET", "/api/v1/purchase-orders"): {"after": TENANT_CURSOR},
    # BOM versions and manufacturing orders page the same way; work orders filter by an
    # order id (the nil id: none).
    ("GET", "/api/v1/production/boms"): {"after": TENANT_CURSOR},
    ("GET", "/api/v1/production/orders"): {"after": TENANT_CURSOR},
    ("GET", "/api/v1/kanban/boards"): {"after": TENANT_CURSOR},
    ("GET", "/api/v1/kanban/boards/{id}/moves"): {"after": TENANT_CURSOR},
    ("GET", "/api/v1/production/work-orders"): {"order_id": UUID_CURSOR},
    ("GET", "/api/v1/webhooks/endpoints"): {"after": BYTES_CURSOR},
    ("GET", "/api/v1/webhooks/endpoints/{id}/deliveries"): {"after": BYTES_CURSOR},
    ("GET", "/api/v1/tenants"): {"cursor": TENANT_LIST_CURSOR},
    ("GET", "/api/v1/audit"): {"cursor": AUDIT_CURSOR},
    ("GET", "/api/v1/billing/events"): {"cursor": EVENT_CURSOR},
    ("GET", "/api/v1/jobs"): {"cursor": JOB_CURSOR},
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
    if key in CSV_BODY:
        case.body = CSV_BODY[key]
    # Approval rules name a role that exists, one rule per document type and amount.
    if key == ("PUT", "/api/v1/approvals/rules") and hasattr(case.body, "keys"):
        for index, rule in enumerate(case.body.get("rules") or []):
            if hasattr(rule, "keys"):
                rule["role"] = "manager"
                rule["min_amount"] = str(index)
    # A rejection says why (a blank or missing comment is rightly refused).
    if key == ("POST", "/api/v1/approvals/{id}/reject") and hasattr(case.body, "keys"):
        case.body["comment"] = "the price is too high"
    # A new partner with neither role is rightly refused; both default to false.
    if key == ("POST", "/api/v1/partners") and hasattr(case.body, "keys"):
        case.body["is_customer"] = True
    # Moving stock from a location to itself is rightly refused; make the two differ.
    if key == ("POST", "/api/v1/stock/transfers") and hasattr(case.body, "keys"):
        if case.body.get("from_location_id") == case.body.get("to_location_id"):
            case.body["to_location_id"] = "00000000-0000-0000-0000-000000000001"
    # An inspection plan is for an item or a category (one of them); a measured criterion
    # needs ordered bounds, a pass/fail one none: make every criterion pass/fail.
    if key == ("POST", "/api/v1/quality/plans") and hasattr(case.body, "keys"):
        case.body["category_id"] = None
        case.body["item_id"] = case.body.get("item_id") or UUID_CURSOR
        for criterion in case.body.get("criteria") or []:
            if hasattr(criterion, "keys"):
                criterion["kind"] = "pass_fail"
                for bound in ("min", "max", "unit"):
                    criterion.pop(bound, None)
    # An inspection names the subject its kind needs: a final one names a lot.
    if key == ("POST", "/api/v1/quality/inspections") and hasattr(case.body, "keys"):
        case.body["kind"] = "final"
        case.body["lot_id"] = case.body.get("lot_id") or UUID_CURSOR
    # A period ends on or after its start.
    if key == ("GET", "/api/v1/quality/defects") and case.query:
        if case.query.get("from") and case.query.get("to"):
            case.query["to"] = case.query["from"]
    # A BOM's components in their base unit (a made-up unit has no conversion), none the
    # parent itself (a cycle, rightly refused: the nil id names no item instead), each
    # item once (a repeat is rightly refused).
    if key == ("POST", "/api/v1/production/boms") and hasattr(case.body, "keys"):
        components = [c for c in case.body.get("components") or [] if hasattr(c, "keys")]
        for component in components:
            component["unit"] = None
            if component.get("item_id") == case.body.get("item_id"):
                component["item_id"] = UUID_CURSOR
        seen = set()
        case.body["components"] = [
            c for c in components if not (repr(c.get("item_id")) in seen or seen.add(repr(c.get("item_id"))))
        ] or case.body.get("components")
    # A kanban column stands for states its document type has (a work order is never
    # `received`: rightly refused): `draft`, which every type has.
    if key in KANBAN_COLUMNS and hasattr(case.body, "keys"):
        columns = case.body.get("columns") if key[1] == "/api/v1/kanban/boards" else [case.body]
        for column in columns or []:
            for state in (column.get("states") or []) if hasattr(column, "keys") else []:
                if hasattr(state, "keys"):
                    state["state"] = "draft"
    # A card names both its document's type and id, or neither (a free card with a title).
    if key == ("POST", "/api/v1/kanban/boards/{id}/cards") and hasattr(case.body, "keys"):
        case.body["document_type"] = None
        case.body["document_id"] = None
        case.body["title"] = "a card"
    if case.headers is not None and "Idempotency-Key" in case.headers:
        body = json.dumps(case.body, sort_keys=True, default=str).encode()
        case.headers["Idempotency-Key"] = hashlib.sha256(body).hexdigest()
    return case
