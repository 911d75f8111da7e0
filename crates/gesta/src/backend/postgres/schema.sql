-- Gesta's own tables on PostgreSQL (DESIGN.md section 2). Run as one batch, hence one
-- implicit transaction: the advisory lock makes processes starting at once take turns.
SELECT pg_advisory_xact_lock(1734702964, hashtext(COALESCE(current_schema(), '')));
CREATE TABLE IF NOT EXISTS events (
    position       BIGINT PRIMARY KEY,
    stream_id      TEXT   COLLATE "C" NOT NULL,
    stream_version BIGINT NOT NULL,
    event_id       UUID   NOT NULL UNIQUE,
    event_type     TEXT   COLLATE "C" NOT NULL,
    data           JSONB  NOT NULL,
    metadata       JSONB  NOT NULL,
    recorded_at    BIGINT NOT NULL,
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX IF NOT EXISTS events_by_type ON events (event_type, position);
CREATE TABLE IF NOT EXISTS streams (
    stream_id TEXT   COLLATE "C" PRIMARY KEY,
    version   BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    idempotency_key TEXT   COLLATE "C" PRIMARY KEY,
    outcome         TEXT   NOT NULL,
    recorded_at     BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    name       TEXT   COLLATE "C" PRIMARY KEY,
    position   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Events a reactor gave up on (dead letters): one row per reactor and position.
CREATE TABLE IF NOT EXISTS parked_events (
    reactor            TEXT   COLLATE "C" NOT NULL,
    position           BIGINT NOT NULL,
    event_id           UUID   NOT NULL,
    error              TEXT   NOT NULL,
    attempts           BIGINT NOT NULL,
    parked_at          BIGINT NOT NULL,
    retry_requested_at BIGINT,
    PRIMARY KEY (reactor, position)
);
CREATE TABLE IF NOT EXISTS gesta_migrations (
    name       TEXT   COLLATE "C" PRIMARY KEY,
    applied_at BIGINT NOT NULL
);
-- Snapshots of the read models (history, ADR 007): one row per snapshot and table,
-- the table's rows as JSON text.
CREATE TABLE IF NOT EXISTS gesta_snapshots (
    position       BIGINT NOT NULL,
    table_name     TEXT   COLLATE "C" NOT NULL,
    created_at     BIGINT NOT NULL,
    models_version TEXT   NOT NULL,
    row_count      BIGINT NOT NULL,
    bytes          BIGINT NOT NULL,
    content        TEXT   NOT NULL,
    PRIMARY KEY (position, table_name)
);
-- API keys (gesta-auth): who a key names and the hash of its secret, never the secret.
CREATE TABLE IF NOT EXISTS gesta_api_keys (
    id         TEXT   COLLATE "C" PRIMARY KEY,
    name       TEXT   COLLATE "C" NOT NULL,
    subject    TEXT,
    roles      TEXT   NOT NULL,
    hash       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX IF NOT EXISTS gesta_api_keys_name ON gesta_api_keys (name);
-- Personal data (erasure): one encryption key per data subject; erasing a subject
-- deletes its row, after which its fields in the log read back as null.
CREATE TABLE IF NOT EXISTS gesta_subject_keys (
    subject        TEXT   COLLATE "C" PRIMARY KEY,
    key_id         TEXT   COLLATE "C" NOT NULL UNIQUE,
    secret         TEXT   NOT NULL,
    first_position BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);
-- Archival: where the oldest events went (one row, id 1), the segments there (the
-- manifest of record), and which segments hold events of which stream.
CREATE TABLE IF NOT EXISTS gesta_archive (
    id          INTEGER PRIMARY KEY,
    location    TEXT    NOT NULL,
    archived_to BIGINT  NOT NULL
);
CREATE TABLE IF NOT EXISTS gesta_archive_segments (
    first_position    BIGINT PRIMARY KEY,
    last_position     BIGINT NOT NULL,
    events            BIGINT NOT NULL,
    bytes             BIGINT NOT NULL,
    sha256            TEXT   NOT NULL,
    object            TEXT   NOT NULL,
    first_recorded_at BIGINT NOT NULL,
    last_recorded_at  BIGINT NOT NULL,
    types             TEXT   NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS gesta_archive_streams (
    stream_id TEXT   COLLATE "C" NOT NULL,
    segment   BIGINT NOT NULL,
    PRIMARY KEY (stream_id, segment)
);
