-- BMC credentials by scope (global, node:<id>, policy:<name>); the
-- password only sealed (AES-256-GCM, key outside the database).
CREATE TABLE bmc_credentials (
	scope      TEXT PRIMARY KEY,
	host       TEXT NOT NULL DEFAULT '',
	port       INTEGER NOT NULL DEFAULT 0,
	username   TEXT NOT NULL,
	sealed     BLOB NOT NULL,
	updated_ns INTEGER NOT NULL
);
