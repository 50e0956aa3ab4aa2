"""What counts as a failure: one place for the test on an event and the query text that finds the
same events, so pages, rollups, dashboards and alert rules agree.

Two meanings, kept apart on purpose:
- a *failed event*: outcome failure, an error-or-worse level, or a provider answer other than
  ok/success (a declined card is a failed payment attempt from the player's side);
- a *provider failure*: the provider did not answer properly — error, timeout or an open circuit
  breaker. A declined card or a rejected document is an answer, so it does not count against the
  provider's health (as in the shipped rule alerts/integration-failing-per-provider.yaml).
"""
from __future__ import annotations

FAILURE_LEVELS = ("error", "critical", "alert", "emergency")
SUCCESS_STATUSES = ("ok", "success")
INTEGRATION_FAILURE_STATUSES = ("error", "timeout", "circuit_open")
TIMEOUT_STATUS = "timeout"

FAILURE_QUERY = (f"event.outcome:failure OR log.level:({' OR '.join(FAILURE_LEVELS)}) "
                 f"OR (integration.status:* AND NOT integration.status:({' OR '.join(SUCCESS_STATUSES)}))")
INTEGRATION_FAILURE_QUERY = f"integration.status:({' OR '.join(INTEGRATION_FAILURE_STATUSES)})"


def _at(event: dict, section: str, key: str):
    part = event.get(section)
    return part.get(key) if isinstance(part, dict) else None


def is_failure(event: dict) -> bool:
    """The event records something that went wrong (FAILURE_QUERY finds the same events)."""
    status = _at(event, "integration", "status")
    return (_at(event, "event", "outcome") == "failure" or _at(event, "log", "level") in FAILURE_LEVELS
            or (status is not None and status not in SUCCESS_STATUSES))


def is_integration_failure(event: dict) -> bool:
    """The provider failed to answer (INTEGRATION_FAILURE_QUERY finds the same events)."""
    return _at(event, "integration", "status") in INTEGRATION_FAILURE_STATUSES
