-- Every server its own Jitsi (issue 12). Times are unix seconds; see src/store/mod.rs.

-- A server's own Jitsi setup; no row = the operator's default Jitsi.
CREATE TABLE tenant_jitsi (
    guild_id       INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('asap', 'hs256', 'jaas')),
    site_url       TEXT NOT NULL,
    xmpp_domain    TEXT NOT NULL,
    muc            TEXT,
    tenant         TEXT,
    issuer         TEXT NOT NULL,
    audience       TEXT NOT NULL,
    jaas_app_id    TEXT,
    jaas_key_id    TEXT,
    -- The HS256 secret or the JaaS private key, sealed (src/seal.rs); NULL for asap.
    sealed_secret  TEXT,
    updated_by     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- meetbot's own signing keys per server. Rows are kept after retirement so old links keep working
-- until serve_until; the key server serves a row while retired_at IS NULL OR serve_until > now.
CREATE TABLE tenant_signing_keys (
    kid                 TEXT PRIMARY KEY,
    -- What Prosody asks the key server for: lowercase hex SHA-256 of kid. UNIQUE gives the lookup index.
    kid_sha256          TEXT NOT NULL UNIQUE,
    guild_id            INTEGER NOT NULL,
    generation          INTEGER NOT NULL,
    public_pem          TEXT NOT NULL,
    sealed_private_key  TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    retired_at          INTEGER,
    serve_until         INTEGER,
    UNIQUE (guild_id, generation),
    CHECK ((retired_at IS NULL) = (serve_until IS NULL))
);
-- At most one current key per server: two instances rotating at once cannot both install theirs.
CREATE UNIQUE INDEX tenant_signing_keys_current ON tenant_signing_keys (guild_id) WHERE retired_at IS NULL;

-- One sealed known value, checked at start-up: a wrong or missing master key stops the bot instead of
-- failing later on each server's key.
CREATE TABLE seal_canary (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    sealed      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
