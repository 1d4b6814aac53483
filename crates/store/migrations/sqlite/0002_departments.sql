-- Org-chart units from roster sources (DingTalk, WeCom).
CREATE TABLE departments (
    id              INTEGER PRIMARY KEY,
    connector       TEXT NOT NULL,
    source_key      TEXT NOT NULL,
    employee_id     INTEGER REFERENCES employees (id),
    subject_external_id TEXT, subject_employee_no TEXT, subject_email TEXT, subject_mobile TEXT,
    dept_id         TEXT,
    name            TEXT,
    parent_id       TEXT,
    path            TEXT,
    source_updated_at TEXT,
    raw_record_id   INTEGER,
    sync_run_id     INTEGER,
    mapping_version TEXT,
    deleted_at      TEXT,
    updated_at      TEXT NOT NULL,
    UNIQUE (connector, source_key)
);
