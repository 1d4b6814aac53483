-- Identity keys that point at two employees: reported, never merged.
CREATE TABLE identity_conflicts (
    id                 INTEGER PRIMARY KEY,
    system             TEXT NOT NULL,
    external_id        TEXT NOT NULL DEFAULT '',
    key_name           TEXT NOT NULL,
    key_value          TEXT NOT NULL,
    chosen_employee_id INTEGER,
    other_employee_id  INTEGER NOT NULL,
    detected_at        TEXT NOT NULL,
    UNIQUE (system, external_id, key_name, key_value, other_employee_id)
);
