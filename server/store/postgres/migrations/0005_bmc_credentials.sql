-- BMC credentials by scope (global, node:<id>, policy:<name>); the
-- password only sealed (AES-256-GCM, key outside the database).
CREATE TABLE bmc_credentials (
	scope    text PRIMARY KEY,
	host     text NOT NULL DEFAULT '',
	port     integer NOT NULL DEFAULT 0,
	username text NOT NULL,
	sealed   bytea NOT NULL,
	updated  timestamptz NOT NULL
);
