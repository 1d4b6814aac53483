-- hrhub store, SQLite. Column lists of the entity tables follow
-- hrhub_model::EntityKind::fields(); a conformance test checks they agree.

CREATE TABLE employees (
    id              INTEGER PRIMARY KEY,
    employee_no     TEXT UNIQUE,
    name            TEXT NOT NULL,
    email           TEXT,
    mobile          TEXT,
    department      TEXT,
    title           TEXT,
    hire_date       TEXT,
    probation_end   TEXT,
    status          TEXT NOT NULL,
    connector       TEXT NOT NULL,
    source_key      TEXT NOT NULL,
    source_updated_at TEXT,
    raw_record_id   BIGINT,
    sync_run_id     BIGINT,
    mapping_version TEXT,
    deleted_at      TEXT,
    updated_at      TEXT NOT NULL
);
CREATE INDEX employees_email ON employees (email);
CREATE INDEX employees_mobile ON employees (mobile);

CREATE TABLE identity_links (
    system      TEXT NOT NULL,
    external_id TEXT NOT NULL,
    employee_id BIGINT NOT NULL REFERENCES employees (id),
    matched_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (system, external_id)
);
CREATE INDEX identity_links_employee ON identity_links (employee_id);

CREATE TABLE attendance_records (
    id              INTEGER PRIMARY KEY,
    connector       TEXT NOT NULL,
    source_key      TEXT NOT NULL,
    employee_id     BIGINT REFERENCES employees (id),
    subject_external_id TEXT, subject_employee_no TEXT, subject_email TEXT, subject_mobile TEXT,
    work_date       TEXT,
    check_kind      TEXT,
    scheduled_at    TEXT,
    checked_at      TEXT,
    result          TEXT,
    source_method   TEXT,
    source_updated_at TEXT,
    raw_record_id   BIGINT,
    sync_run_id     BIGINT,
    mapping_version TEXT,
    deleted_at      TEXT,
    updated_at      TEXT NOT NULL,
    UNIQUE (connector, source_key)
);
CREATE INDEX attendance_employee_date ON attendance_records (employee_id, work_date);

CREATE TABLE ticket_activities (
    id              INTEGER PRIMARY KEY,
    connector       TEXT NOT NULL,
    source_key      TEXT NOT NULL,
    employee_id     BIGINT REFERENCES employees (id),
    subject_external_id TEXT, subject_employee_no TEXT, subject_email TEXT, subject_mobile TEXT,
    ticket_id       TEXT,
    assignee_id     TEXT,
    status          TEXT,
    priority        TEXT,
    channel         TEXT,
    created_at      TEXT,
    solved_at       TEXT,
    first_reply_minutes BIGINT,
    full_resolution_minutes BIGINT,
    reopens         BIGINT,
    source_updated_at TEXT,
    raw_record_id   BIGINT,
    sync_run_id     BIGINT,
    mapping_version TEXT,
    deleted_at      TEXT,
    updated_at      TEXT NOT NULL,
    UNIQUE (connector, source_key)
);
CREATE INDEX ticket_activities_employee ON ticket_activities (employee_id, created_at);

CREATE TABLE satisfaction_ratings (
    id              INTEGER PRIMARY KEY,
    connector       TEXT NOT NULL,
    source_key      TEXT NOT NULL,
    employee_id     BIGINT REFERENCES employees (id),
    subject_external_id TEXT, subject_employee_no TEXT, subject_email TEXT, subject_mobile TEXT,
    rating_id       TEXT,
    ticket_id       TEXT,
    agent_id        TEXT,
    score_native    TEXT,
    score_normalized REAL,
    comment         TEXT,
    rated_at        TEXT,
    source_updated_at TEXT,
    raw_record_id   BIGINT,
    sync_run_id     BIGINT,
    mapping_version TEXT,
    deleted_at      TEXT,
    updated_at      TEXT NOT NULL,
    UNIQUE (connector, source_key)
);
CREATE INDEX satisfaction_employee ON satisfaction_ratings (employee_id, rated_at);

CREATE TABLE training_results (
    id              INTEGER PRIMARY KEY,
    connector       TEXT NOT NULL,
    source_key      TEXT NOT NULL,
    employee_id     BIGINT REFERENCES employees (id),
    subject_external_id TEXT, subject_employee_no TEXT, subject_email TEXT, subject_mobile TEXT,
    course_id       TEXT,
    course_name     TEXT,
    completed_at    TEXT,
    score           REAL,
    score_native    TEXT,
    passed          INTEGER,
    attempts        BIGINT,
    source_updated_at TEXT,
    raw_record_id   BIGINT,
    sync_run_id     BIGINT,
    mapping_version TEXT,
    deleted_at      TEXT,
    updated_at      TEXT NOT NULL,
    UNIQUE (connector, source_key)
);
CREATE INDEX training_employee ON training_results (employee_id, completed_at);

-- Landing: every raw record as the platform sent it, with a content hash.
CREATE TABLE raw_records (
    id           INTEGER PRIMARY KEY,
    connector    TEXT NOT NULL,
    stream       TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    op           TEXT NOT NULL,
    payload      TEXT NOT NULL,
    observed_at  TEXT NOT NULL,
    sync_run_id  BIGINT,
    landed_at    TEXT NOT NULL,
    UNIQUE (connector, stream, external_id)
);

CREATE TABLE quarantine (
    id            INTEGER PRIMARY KEY,
    connector     TEXT NOT NULL,
    stream        TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    raw_record_id BIGINT,
    payload       TEXT NOT NULL,
    reason        TEXT NOT NULL,
    mapping       TEXT,
    sync_run_id   BIGINT,
    quarantined_at TEXT NOT NULL,
    resolved_at   TEXT
);
CREATE INDEX quarantine_open ON quarantine (connector, stream) WHERE resolved_at IS NULL;

-- The change log. seq is handed out under a row lock on hub_sequences at
-- commit, so it is gap-free and increases in commit order.
CREATE TABLE change_log (
    seq         BIGINT PRIMARY KEY,
    entity      TEXT NOT NULL,
    entity_id   BIGINT NOT NULL,
    op          TEXT NOT NULL,
    employee_id BIGINT,
    sync_run_id BIGINT,
    changed_at  TEXT NOT NULL
);

CREATE TABLE hub_sequences (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO hub_sequences (name, value) VALUES ('change_log', 0);

CREATE TABLE sync_runs (
    id          INTEGER PRIMARY KEY,
    connector   TEXT NOT NULL,
    stream      TEXT NOT NULL,
    trigger     TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    fetched     BIGINT NOT NULL DEFAULT 0,
    unchanged   BIGINT NOT NULL DEFAULT 0,
    upserted    BIGINT NOT NULL DEFAULT 0,
    quarantined BIGINT NOT NULL DEFAULT 0,
    filtered    BIGINT NOT NULL DEFAULT 0,
    unmatched   BIGINT NOT NULL DEFAULT 0,
    error       TEXT
);
CREATE INDEX sync_runs_stream ON sync_runs (connector, stream, id);

CREATE TABLE stream_state (
    connector  TEXT NOT NULL,
    stream     TEXT NOT NULL,
    cursor     TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (connector, stream)
);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
