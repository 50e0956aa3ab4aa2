-- meta database schema as created by 24f3bc2 (pre-Alembic create_all), sqlite
CREATE TABLE login_failures (
	id INTEGER NOT NULL, 
	username VARCHAR(64) NOT NULL, 
	address VARCHAR(64) NOT NULL, 
	at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_login_failures_at ON login_failures (at);

CREATE INDEX ix_login_failures_username_at ON login_failures (username, at);

CREATE INDEX ix_login_failures_address_at ON login_failures (address, at);

CREATE TABLE users (
	id INTEGER NOT NULL, 
	username VARCHAR(64) NOT NULL, 
	password_hash VARCHAR(255) NOT NULL, 
	role VARCHAR(32) NOT NULL, 
	active BOOLEAN NOT NULL, 
	must_change_password BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_login_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (username)
);

CREATE TABLE provider_notes (
	provider VARCHAR(256) NOT NULL, 
	owner VARCHAR(128) NOT NULL, 
	slo_target FLOAT, 
	quiet_at_night BOOLEAN NOT NULL, 
	note VARCHAR(1000) NOT NULL, 
	updated_at DATETIME NOT NULL, 
	updated_by VARCHAR(64) NOT NULL, 
	PRIMARY KEY (provider)
);

CREATE TABLE provider_states (
	provider VARCHAR(256) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	since DATETIME NOT NULL, 
	checked_at DATETIME NOT NULL, 
	PRIMARY KEY (provider)
);

CREATE TABLE alert_instances (
	id INTEGER NOT NULL, 
	rule_id VARCHAR(128) NOT NULL, 
	group_key VARCHAR(512) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	severity VARCHAR(16) NOT NULL, 
	value FLOAT, 
	threshold FLOAT, 
	detail VARCHAR(1024) NOT NULL, 
	sample_ids TEXT NOT NULL, 
	search_query VARCHAR(4096) NOT NULL, 
	window_start_ms BIGINT, 
	window_end_ms BIGINT, 
	first_seen_at DATETIME NOT NULL, 
	last_seen_at DATETIME NOT NULL, 
	fired_at DATETIME, 
	resolved_at DATETIME, 
	last_notified_at DATETIME, 
	notify_count INTEGER NOT NULL, 
	suppressed VARCHAR(512), 
	ack_owner VARCHAR(64), 
	ack_comment VARCHAR(1024), 
	acked_by VARCHAR(64), 
	acked_at DATETIME, 
	muted_until DATETIME, 
	last_delivery_error VARCHAR(1024), 
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ux_alert_instances_open ON alert_instances (rule_id, group_key) WHERE state != 'resolved';

CREATE INDEX ix_alert_instances_state ON alert_instances (state);

CREATE INDEX ix_alert_instances_rule ON alert_instances (rule_id, first_seen_at);

CREATE TABLE alert_mutes (
	id INTEGER NOT NULL, 
	rule_id VARCHAR(128) NOT NULL, 
	group_key VARCHAR(512), 
	until DATETIME NOT NULL, 
	comment VARCHAR(1024) NOT NULL, 
	created_by VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	lifted_by VARCHAR(64), 
	lifted_at DATETIME, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_alert_mutes_rule ON alert_mutes (rule_id, until);

CREATE TABLE alert_maintenance (
	id INTEGER NOT NULL, 
	rule_id VARCHAR(128), 
	group_pattern VARCHAR(512), 
	starts_at DATETIME NOT NULL, 
	ends_at DATETIME NOT NULL, 
	reason VARCHAR(1024) NOT NULL, 
	created_by VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_alert_maintenance_ends ON alert_maintenance (ends_at);

CREATE TABLE alert_rule_runs (
	id INTEGER NOT NULL, 
	rule_id VARCHAR(128) NOT NULL, 
	moment_ms BIGINT NOT NULL, 
	claimed_by VARCHAR(128) NOT NULL, 
	claimed_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	outcome VARCHAR(1024), 
	PRIMARY KEY (id), 
	CONSTRAINT uq_alert_rule_runs_moment UNIQUE (rule_id, moment_ms)
);

CREATE INDEX ix_alert_rule_runs_moment ON alert_rule_runs (moment_ms);

CREATE TABLE alert_rule_state (
	rule_id VARCHAR(128) NOT NULL, 
	last_moment_ms BIGINT, 
	last_run_at DATETIME, 
	last_error VARCHAR(1024), 
	version INTEGER NOT NULL, 
	PRIMARY KEY (rule_id)
);

CREATE TABLE alert_ui_rules (
	rule_id VARCHAR(128) NOT NULL, 
	definition TEXT NOT NULL, 
	created_by VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_by VARCHAR(64) NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (rule_id)
);

CREATE TABLE alert_destinations (
	id INTEGER NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	target VARCHAR(2048) NOT NULL, 
	secret VARCHAR(512), 
	created_by VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);

CREATE TABLE error_groups (
	id INTEGER NOT NULL, 
	fingerprint VARCHAR(64) NOT NULL, 
	title VARCHAR(256) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	first_seen DATETIME NOT NULL, 
	last_seen DATETIME NOT NULL, 
	created_at DATETIME NOT NULL, 
	resolved_at DATETIME, 
	regressed_at DATETIME, 
	regression BOOLEAN NOT NULL, 
	status_by VARCHAR(64), 
	status_at DATETIME, 
	merged_into INTEGER, 
	PRIMARY KEY (id), 
	UNIQUE (fingerprint), 
	FOREIGN KEY(merged_into) REFERENCES error_groups (id) ON DELETE SET NULL
);

CREATE INDEX ix_error_groups_regressed ON error_groups (regressed_at);

CREATE INDEX ix_error_groups_created ON error_groups (created_at);

CREATE INDEX ix_error_groups_merged ON error_groups (merged_into);

CREATE TABLE error_group_sync (
	id INTEGER NOT NULL, 
	synced_until DATETIME NOT NULL, 
	synced_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE user_sessions (
	id VARCHAR(64) NOT NULL, 
	user_id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_seen_at DATETIME NOT NULL, 
	user_agent VARCHAR(256), 
	address VARCHAR(64), 
	ended_at DATETIME, 
	ended_why VARCHAR(32), 
	PRIMARY KEY (id), 
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_user_sessions_user ON user_sessions (user_id, ended_at);

CREATE INDEX ix_user_sessions_seen ON user_sessions (last_seen_at);

CREATE TABLE api_keys (
	id INTEGER NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	key_hash VARCHAR(64) NOT NULL, 
	display VARCHAR(16) NOT NULL, 
	scopes VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by INTEGER, 
	revoked_at DATETIME, 
	last_used_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (key_hash), 
	FOREIGN KEY(created_by) REFERENCES users (id)
);

CREATE TABLE saved_searches (
	id INTEGER NOT NULL, 
	owner_id INTEGER NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	"query" VARCHAR(4096) NOT NULL, 
	time_from VARCHAR(64), 
	time_to VARCHAR(64), 
	shared_role VARCHAR(32), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(owner_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE TABLE stored_dashboards (
	id VARCHAR(80) NOT NULL, 
	owner_id INTEGER NOT NULL, 
	owner_name VARCHAR(64) NOT NULL, 
	title VARCHAR(200) NOT NULL, 
	yaml_text TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(owner_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_stored_dashboards_owner_id ON stored_dashboards (owner_id);

CREATE TABLE alert_history (
	id INTEGER NOT NULL, 
	instance_id INTEGER, 
	rule_id VARCHAR(128), 
	group_key VARCHAR(512), 
	at DATETIME NOT NULL, 
	actor VARCHAR(64) NOT NULL, 
	action VARCHAR(32) NOT NULL, 
	from_state VARCHAR(16), 
	to_state VARCHAR(16), 
	comment VARCHAR(2048) NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(instance_id) REFERENCES alert_instances (id) ON DELETE CASCADE
);

CREATE INDEX ix_alert_history_instance ON alert_history (instance_id, id);

CREATE INDEX ix_alert_history_rule ON alert_history (rule_id, at);

CREATE INDEX ix_alert_history_at ON alert_history (at);

CREATE TABLE alert_deliveries (
	id INTEGER NOT NULL, 
	instance_id INTEGER NOT NULL, 
	destination VARCHAR(64) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	payload TEXT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	lease_until DATETIME, 
	claimed_by VARCHAR(128), 
	last_error VARCHAR(1024), 
	created_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(instance_id) REFERENCES alert_instances (id) ON DELETE CASCADE
);

CREATE INDEX ix_alert_deliveries_due ON alert_deliveries (status, next_attempt_at);

CREATE INDEX ix_alert_deliveries_instance ON alert_deliveries (instance_id, destination, id);

