CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY,
    stream_id      TEXT    NOT NULL,
    stream_version INTEGER NOT NULL,
    event_id       TEXT    NOT NULL UNIQUE,
    event_type     TEXT    NOT NULL,
    data           TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    recorded_at    INTEGER NOT NULL,
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX IF NOT EXISTS events_by_type ON events (event_type, position);
CREATE TABLE IF NOT EXISTS streams (
    stream_id TEXT    PRIMARY KEY,
    version   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commands (
    idempotency_key TEXT    PRIMARY KEY,
    outcome         TEXT    NOT NULL,
    recorded_at     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    name       TEXT    PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Events a reactor gave up on (dead letters): one row per reactor and position.
CREATE TABLE IF NOT EXISTS parked_events (
    reactor            TEXT    NOT NULL,
    position           INTEGER NOT NULL,
    event_id           TEXT    NOT NULL,
    error              TEXT    NOT NULL,
    attempts           INTEGER NOT NULL,
    parked_at          INTEGER NOT NULL,
    retry_requested_at INTEGER,
    PRIMARY KEY (reactor, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gesta_migrations (
    name       TEXT    PRIMARY KEY,
    applied_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Snapshots of the read models (history, ADR 007): one row per snapshot and table,
-- the table's rows as JSON.
CREATE TABLE IF NOT EXISTS gesta_snapshots (
    position       INTEGER NOT NULL,
    table_name     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    models_version TEXT    NOT NULL,
    row_count      INTEGER NOT NULL,
    bytes          INTEGER NOT NULL,
    content        TEXT    NOT NULL,
    PRIMARY KEY (position, table_name)
) WITHOUT ROWID;
-- API keys (gesta-auth): who a key names and the hash of its secret, never the secret.
CREATE TABLE IF NOT EXISTS gesta_api_keys (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    subject    TEXT,
    roles      TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gesta_api_keys_name ON gesta_api_keys (name);
-- Personal data (erasure): one encryption key per data subject; erasing a subject
-- deletes its row, after which its fields in the log read back as null.
CREATE TABLE IF NOT EXISTS gesta_subject_keys (
    subject        TEXT    PRIMARY KEY,
    key_id         TEXT    NOT NULL UNIQUE,
    secret         TEXT    NOT NULL,
    first_position INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
) WITHOUT ROWID;
-- Archival: where the oldest events went (one row, id 1), the segments there (the
-- manifest of record), and which segments hold events of which stream.
CREATE TABLE IF NOT EXISTS gesta_archive (
    id          INTEGER PRIMARY KEY,
    location    TEXT    NOT NULL,
    archived_to INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS gesta_archive_segments (
    first_position    INTEGER PRIMARY KEY,
    last_position     INTEGER NOT NULL,
    events            INTEGER NOT NULL,
    bytes             INTEGER NOT NULL,
    sha256            TEXT    NOT NULL,
    object            TEXT    NOT NULL,
    first_recorded_at INTEGER NOT NULL,
    last_recorded_at  INTEGER NOT NULL,
    types             TEXT    NOT NULL,
    created_at        INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS gesta_archive_streams (
    stream_id TEXT    NOT NULL,
    segment   INTEGER NOT NULL,
    PRIMARY KEY (stream_id, segment)
) WITHOUT ROWID;
