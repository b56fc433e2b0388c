"""The bodies of alert notifications: mlmon's JSON, Alertmanager's webhook format (receivers
written for Alertmanager take it), a Slack incoming webhook's `text` and blocks, and a title
and text for apprise's channels."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from mlmon.ops.notifications import Notification

_NEVER = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of an alert still firing


def render(
    note: Notification, form: str, *, service: str = "", dashboard_url: str | None = None
) -> dict[str, Any]:
    """The webhook body of one notification: form is mlmon, alertmanager or slack."""
    if form == "alertmanager":
        return _alertmanager(note, service, dashboard_url)
    if form == "slack":
        return _slack(note, dashboard_url)
    return {
        "alert": note.rule.name,
        "rule": str(note.rule),
        "state": note.state,
        "series": note.series,
        "value": note.value,
        "threshold": note.rule.threshold,
        "severity": note.rule.severity,
        "at": note.at,
        "started_at": note.started_at,
        "summary": note.summary(),
        "description": note.description(),
        "dashboard": dashboard_url,
    }


def _iso(seconds: float) -> str:
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _alertmanager(note: Notification, service: str, dashboard_url: str | None) -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) holding this one alert."""
    labels = {"alertname": note.rule.name, "severity": note.rule.severity}
    if note.series:
        labels["model"] = note.series
    if service:
        labels["service"] = service
    annotations = {"summary": note.summary(), "description": note.description()}
    if dashboard_url:
        annotations["dashboard"] = dashboard_url
    fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    alert = {
        "status": note.state,
        "labels": labels,
        "annotations": annotations,
        "startsAt": _iso(note.started_at),
        "endsAt": _iso(note.at) if note.state == "resolved" else _NEVER,
        "generatorURL": dashboard_url or "",
        "fingerprint": fingerprint,
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{note.rule.name}"}}',
        "truncatedAlerts": 0,
        "status": note.state,
        "receiver": "mlmon",
        "groupLabels": {"alertname": note.rule.name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": dashboard_url or "",
        "alerts": [alert],
    }


def _slack_escape(text: str) -> str:
    """Slack's mrkdwn reads &, < and > as markup: `mae > 60` must arrive as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack(note: Notification, dashboard_url: str | None) -> dict[str, Any]:
    """A Slack incoming webhook's body: `text` (notifications, fallbacks) and blocks."""
    mark = ":red_circle:" if note.state == "firing" else ":large_green_circle:"
    headline = f"{mark} *[{note.state.upper()}]* {_slack_escape(note.summary())}"
    text = f"{headline}\n{_slack_escape(note.description())}"
    context = [f"severity: *{note.rule.severity}*"]
    if dashboard_url:
        context.append(f"<{dashboard_url}|dashboard>")
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": part} for part in context],
            },
        ],
    }


def text_message(note: Notification, dashboard_url: str | None = None) -> dict[str, str]:
    """A title and a plain body, for channels that take text (apprise's)."""
    body = f"{note.description()}; severity {note.rule.severity}"
    if dashboard_url:
        body += f"\n{dashboard_url}"
    level = "success" if note.state == "resolved" else _LEVELS[note.rule.severity]
    return {"title": f"[{note.state.upper()}] {note.summary()}", "body": body, "type": level}


_LEVELS = {"critical": "failure", "warning": "warning", "info": "info"}  # apprise's types
