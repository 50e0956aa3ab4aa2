-- meta database schema as created by 7e65308 (pre-Alembic create_all), postgresql
CREATE TABLE users (
	id SERIAL NOT NULL, 
	username VARCHAR(64) NOT NULL, 
	password_hash VARCHAR(255) NOT NULL, 
	role VARCHAR(32) NOT NULL, 
	active BOOLEAN NOT NULL, 
	must_change_password BOOLEAN NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	last_login_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	UNIQUE (username)
);

CREATE TABLE api_keys (
	id SERIAL NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	key_hash VARCHAR(64) NOT NULL, 
	display VARCHAR(16) NOT NULL, 
	scopes VARCHAR(64) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	created_by INTEGER, 
	revoked_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	UNIQUE (key_hash), 
	FOREIGN KEY(created_by) REFERENCES users (id)
);

CREATE TABLE saved_searches (
	id SERIAL NOT NULL, 
	owner_id INTEGER NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	query VARCHAR(4096) NOT NULL, 
	time_from VARCHAR(64), 
	time_to VARCHAR(64), 
	shared_role VARCHAR(32), 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(owner_id) REFERENCES users (id) ON DELETE CASCADE
);

