//! Incidents: declarations (form, command, API) → severity, runbook, templates → issues.
