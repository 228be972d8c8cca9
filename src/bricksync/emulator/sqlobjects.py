"""SQL queries, alerts, dashboards (AI/BI and legacy) and notification destinations: the objects
jobs point at besides compute, with the list endpoints and paging the documentation gives.

- GET /api/2.0/sql/queries, /api/2.0/sql/alerts: `page_size` (default 20, at most 100) and
  `page_token`; `results` + `next_page_token` (docs.databricks.com/api/workspace/queries/list,
  /alerts/list). Create takes `{"query": {...}}` / `{"alert": {...}}`.
- GET /api/2.0/alerts (alerts v2, what alert_task.alert_id names): `page_size` ("values above
  100 are coerced to 100") and `page_token`; `alerts` + `next_page_token`; create takes the
  AlertV2 itself (databricks-sdk AlertsV2API: list_alerts, create_alert).
- GET /api/2.0/lakeview/dashboards: `page_size`/`page_token`; `dashboards` + `next_page_token`
  (/api/workspace/lakeview/list); dashboard IDs are 32 hex characters.
- GET /api/2.0/preview/sql/dashboards (legacy, deprecated): numbered `page` from 1 and
  `page_size` (default 25); `count`, `page`, `page_size`, `results` (/api/workspace/dashboards/list).
- GET /api/2.0/notification-destinations: `page_size` (default 20)/`page_token`; `results` with
  `id`, `display_name`, `destination_type` (/api/workspace/notificationdestinations/list).
"""

from __future__ import annotations

import base64
from typing import Any

from .errors import invalid

# kind -> (id field, name field), merged into workspace.RESOURCES
SQL_RESOURCES = {
    "query": ("id", "display_name"),
    "alert": ("id", "display_name"),
    "alert_v2": ("id", "display_name"),
    "dashboard": ("dashboard_id", "display_name"),
    "sql_dashboard": ("id", "name"),
    "destination": ("id", "display_name"),
}
LABELS = {"query": "Query", "alert": "Alert", "alert_v2": "Alert", "dashboard": "Dashboard", "sql_dashboard": "Dashboard",
          "destination": "Notification destination"}
DESTINATION_TYPES = {"slack": "SLACK", "email": "EMAIL", "generic_webhook": "WEBHOOK", "pagerduty": "PAGERDUTY",
                     "microsoft_teams": "MICROSOFT_TEAMS"}


def _token_page(items: list[dict], key: str, query: dict, default: int, maximum: int | None,
                coerce: bool = False) -> dict:
    size = int(query.get("page_size") or default)
    if coerce and maximum is not None:
        size = min(size, maximum)
    if size < 1 or (maximum is not None and size > maximum):
        raise invalid(f"page_size must be between 1 and {maximum}" if maximum else "page_size must be positive")
    try:
        start = int(base64.urlsafe_b64decode(query["page_token"]).decode()) if query.get("page_token") else 0
    except ValueError:
        raise invalid(f"Invalid page token: {query.get('page_token')!r}") from None
    out: dict[str, Any] = {key: items[start:start + size]} if items[start:start + size] else {}
    if start + size < len(items):
        out["next_page_token"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return out


def _numbered_page(items: list[dict], query: dict) -> dict:
    page, size = int(query.get("page") or 1), int(query.get("page_size") or 25)
    if page < 1 or size < 1:
        raise invalid("page and page_size must be positive")
    chunk = items[(page - 1) * size:page * size]
    return {"count": len(items), "page": page, "page_size": size, **({"results": chunk} if chunk else {})}


def _summary(kind: str, record: dict) -> dict:
    """What a list entry carries (the list endpoints return a summary, not the whole object)."""
    if kind == "destination":
        return {k: record[k] for k in ("id", "display_name", "destination_type") if k in record}
    return record


def _create(ws: Any, kind: str, body: dict) -> dict:
    inner = body.get(kind, body) if kind in ("query", "alert") else body  # {"query": {...}} / {"alert": {...}}
    if kind == "destination":
        config = inner.get("config") or {}
        inner = {**inner, "destination_type": next((DESTINATION_TYPES[k] for k in config if k in DESTINATION_TYPES),
                                                   "WEBHOOK")}
    created = ws.create_resource(kind, dict(inner))
    return ws.get_resource(kind, next(iter(created.values())))


def sql_object_routes() -> list[tuple[str, str, Any]]:
    def listing(kind: str, key: str, default: int, maximum: int | None):
        return lambda ws, q, b, m: _token_page([_summary(kind, r) for r in ws.list_resources(kind)], key, q,
                                               default, maximum, coerce=kind == "alert_v2")

    routes: list[tuple[str, str, Any]] = []
    for kind, base, key, default, maximum in (
        ("query", "/api/2.0/sql/queries", "results", 20, 100),
        ("alert", "/api/2.0/sql/alerts", "results", 20, 100),
        ("alert_v2", "/api/2.0/alerts", "alerts", 100, 100),
        ("dashboard", "/api/2.0/lakeview/dashboards", "dashboards", 100, 1000),
        ("destination", "/api/2.0/notification-destinations", "results", 20, None),
    ):
        routes += [
            ("GET", base, listing(kind, key, default, maximum)),
            ("POST", base, lambda ws, q, b, m, kind=kind: _create(ws, kind, b)),
            ("GET", base + r"/(?P<id>[^/]+)", lambda ws, q, b, m, kind=kind: ws.get_resource(kind, m["id"])),
            ("DELETE", base + r"/(?P<id>[^/]+)", lambda ws, q, b, m, kind=kind: ws.delete_resource(kind, m["id"])),
        ]
    legacy = "/api/2.0/preview/sql/dashboards"
    routes += [
        ("GET", legacy, lambda ws, q, b, m: _numbered_page(ws.list_resources("sql_dashboard"), q)),
        ("POST", legacy, lambda ws, q, b, m: _create(ws, "sql_dashboard", b)),
        ("GET", legacy + r"/(?P<id>[^/]+)", lambda ws, q, b, m: ws.get_resource("sql_dashboard", m["id"])),
        ("DELETE", legacy + r"/(?P<id>[^/]+)", lambda ws, q, b, m: ws.delete_resource("sql_dashboard", m["id"])),
    ]
    return routes
