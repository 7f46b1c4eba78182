"""Service-level agreements: policies, business calendars, timers and escalation (issue 5)."""
