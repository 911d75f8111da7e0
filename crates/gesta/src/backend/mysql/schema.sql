-- Gesta's own tables on MariaDB 10.2+ and MySQL 8.0.16+ (InnoDB, utf8mb4).
--
-- Text keys use a binary NO PAD collation (this file names MariaDB's utf8mb4_nopad_bin;
-- on MySQL the backend swaps in utf8mb4_0900_bin): case, accents and trailing spaces all
-- count, as on SQLite and PostgreSQL, so `a`, `A` and `a ` are three streams.
-- Event data and metadata are LONGTEXT checked with JSON_VALID, which is exactly what
-- MariaDB's JSON type is; MySQL's binary JSON type would reorder keys and respace the
-- text, and Gesta stores events byte for byte on every backend.
CREATE TABLE IF NOT EXISTS events (
    position       BIGINT       NOT NULL,
    stream_id      VARCHAR(200) NOT NULL,
    stream_version BIGINT       NOT NULL,
    event_id       CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    event_type     VARCHAR(200) NOT NULL,
    data           LONGTEXT     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
                                CHECK (JSON_VALID(data)),
    metadata       LONGTEXT     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
                                CHECK (JSON_VALID(metadata)),
    recorded_at    BIGINT       NOT NULL,
    PRIMARY KEY (position),
    UNIQUE KEY events_event_id (event_id),
    UNIQUE KEY events_stream_version (stream_id, stream_version),
    KEY events_by_type (event_type, position)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
CREATE TABLE IF NOT EXISTS streams (
    stream_id VARCHAR(200) NOT NULL PRIMARY KEY,
    version   BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
CREATE TABLE IF NOT EXISTS commands (
    idempotency_key VARCHAR(200) NOT NULL PRIMARY KEY,
    outcome         TEXT         NOT NULL,
    recorded_at     BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
CREATE TABLE IF NOT EXISTS checkpoints (
    name       VARCHAR(255) NOT NULL PRIMARY KEY,
    position   BIGINT       NOT NULL,
    updated_at BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
-- Events a reactor gave up on (dead letters): one row per reactor and position.
CREATE TABLE IF NOT EXISTS parked_events (
    reactor            VARCHAR(200) NOT NULL,
    position           BIGINT       NOT NULL,
    event_id           CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    error              TEXT         NOT NULL,
    attempts           BIGINT       NOT NULL,
    parked_at          BIGINT       NOT NULL,
    retry_requested_at BIGINT       NULL,
    PRIMARY KEY (reactor, position)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
CREATE TABLE IF NOT EXISTS gesta_migrations (
    name       VARCHAR(500) NOT NULL PRIMARY KEY,
    applied_at BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
-- The writer lease: every write transaction starts by locking this one row
-- (SELECT ... FOR UPDATE), so writers in several processes take turns.
CREATE TABLE IF NOT EXISTS gesta_lease (
    id TINYINT NOT NULL PRIMARY KEY
) ENGINE=InnoDB;
INSERT IGNORE INTO gesta_lease (id) VALUES (1);
-- Snapshots of the read models (history, ADR 007): one row per snapshot and table,
-- the table's rows as JSON text.
CREATE TABLE IF NOT EXISTS gesta_snapshots (
    position       BIGINT       NOT NULL,
    table_name     VARCHAR(200) NOT NULL,
    created_at     BIGINT       NOT NULL,
    models_version VARCHAR(64)  NOT NULL,
    row_count      BIGINT       NOT NULL,
    bytes          BIGINT       NOT NULL,
    content        LONGTEXT     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    PRIMARY KEY (position, table_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
-- API keys (gesta-auth): who a key names and the hash of its secret, never the secret.
CREATE TABLE IF NOT EXISTS gesta_api_keys (
    id         VARCHAR(64)  NOT NULL,
    name       VARCHAR(200) NOT NULL,
    subject    TEXT,
    roles      TEXT         NOT NULL,
    hash       TEXT         NOT NULL,
    created_at BIGINT       NOT NULL,
    revoked_at BIGINT,
    PRIMARY KEY (id),
    INDEX gesta_api_keys_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
-- Personal data (erasure): one encryption key per data subject; erasing a subject
-- deletes its row, after which its fields in the log read back as null.
CREATE TABLE IF NOT EXISTS gesta_subject_keys (
    subject        VARCHAR(200) NOT NULL,
    key_id         VARCHAR(64)  NOT NULL,
    secret         VARCHAR(128) NOT NULL,
    first_position BIGINT       NOT NULL,
    created_at     BIGINT       NOT NULL,
    PRIMARY KEY (subject),
    UNIQUE KEY gesta_subject_keys_id (key_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
-- Archival: where the oldest events went (one row, id 1), the segments there (the
-- manifest of record), and which segments hold events of which stream.
CREATE TABLE IF NOT EXISTS gesta_archive (
    id          INT           NOT NULL,
    location    VARCHAR(1000) NOT NULL,
    archived_to BIGINT        NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
CREATE TABLE IF NOT EXISTS gesta_archive_segments (
    first_position    BIGINT        NOT NULL,
    last_position     BIGINT        NOT NULL,
    events            BIGINT        NOT NULL,
    bytes             BIGINT        NOT NULL,
    sha256            CHAR(64)      NOT NULL,
    object            VARCHAR(1000) NOT NULL,
    first_recorded_at BIGINT        NOT NULL,
    last_recorded_at  BIGINT        NOT NULL,
    types             LONGTEXT      NOT NULL,
    created_at        BIGINT        NOT NULL,
    PRIMARY KEY (first_position)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
CREATE TABLE IF NOT EXISTS gesta_archive_streams (
    stream_id VARCHAR(200) NOT NULL,
    segment   BIGINT       NOT NULL,
    PRIMARY KEY (stream_id, segment)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
