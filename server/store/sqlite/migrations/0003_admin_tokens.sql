-- Named admin API tokens with roles; only each token's SHA-256 is kept.
CREATE TABLE admin_tokens (
	name       TEXT PRIMARY KEY,
	role       TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
	hash       BLOB NOT NULL UNIQUE,
	created_ns INTEGER NOT NULL,
	revoked_ns INTEGER NOT NULL DEFAULT 0
);
