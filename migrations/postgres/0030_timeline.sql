-- The incident's timeline (issue 11): every fact about an incident is an event row
-- (declared, severity, commander, update, note, mitigated, resolved, reopened,
-- pull_request, alert_firing, alert_resolved, agent_runs), with a line of text and
-- a link; `at` is when it happened (a note may be back-dated), `source_key` keeps
-- each exactly once.
ALTER TABLE incident_events ADD COLUMN text TEXT;
ALTER TABLE incident_events ADD COLUMN url TEXT;
CREATE INDEX incident_events_at ON incident_events (incident_id, at);

-- Roles, milestones and rhythm, kept on the incident so lists and jobs need no
-- scan of the events (all times in milliseconds since the epoch):
-- the commander's login; when it started (parsed from the form or an alert);
-- the first acknowledgement (commander or update) and the mitigation; the last
-- status update and the last request for one; the severity's update interval.
ALTER TABLE incidents ADD COLUMN commander TEXT;
ALTER TABLE incidents ADD COLUMN started_ms BIGINT;
ALTER TABLE incidents ADD COLUMN acknowledged_at BIGINT;
ALTER TABLE incidents ADD COLUMN mitigated_at BIGINT;
ALTER TABLE incidents ADD COLUMN last_update_at BIGINT;
ALTER TABLE incidents ADD COLUMN update_asked_at BIGINT;
ALTER TABLE incidents ADD COLUMN update_every_secs BIGINT;
-- The RCA's Timeline section: the version of the events (bumped per new entry),
-- the version last written into the RCA body and when, and whether the body's
-- markers were found missing (said once until they are back).
ALTER TABLE incidents ADD COLUMN timeline_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN timeline_synced BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN timeline_synced_at BIGINT;
ALTER TABLE incidents ADD COLUMN timeline_broken BIGINT NOT NULL DEFAULT 0;
CREATE INDEX incidents_timeline ON incidents (timeline_version, timeline_synced);
