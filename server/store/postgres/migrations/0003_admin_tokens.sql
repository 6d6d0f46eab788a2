-- Named admin API tokens with roles; only each token's SHA-256 is kept.
CREATE TABLE admin_tokens (
	name    text PRIMARY KEY,
	role    text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
	hash    bytea NOT NULL UNIQUE,
	created timestamptz NOT NULL,
	revoked timestamptz
);
