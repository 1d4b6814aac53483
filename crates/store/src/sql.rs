//! SQL text shared by both backends, built from the model's field schema.
//! Column names come only from the static schema, never from user input.

use hrhub_model::EntityKind;

/// Identity columns every non-employee entity row carries, so a row whose
/// person is not yet known can be attached when the roster brings them.
pub(crate) const SUBJECT_COLUMNS: [&str; 4] = [
    "subject_external_id",
    "subject_employee_no",
    "subject_email",
    "subject_mobile",
];

/// Upsert of a non-employee entity by (connector, source_key), writing the
/// given fields. Parameters: $1 connector, $2 source_key, $3 employee_id,
/// $4..$7 subject keys, then one per field, then source_updated_at,
/// raw_record_id, sync_run_id, mapping_version, updated_at.
/// Returns the row id only when something changed.
pub(crate) fn entity_upsert(entity: EntityKind, fields: &[&str]) -> String {
    entity_upsert_rows(entity, fields, 1)
}

/// As [`entity_upsert`] for `rows` rows: the parameters of row `r` follow
/// those of row `r - 1`. The keys of the rows must be distinct (one
/// statement cannot update a row twice). Returns (id, employee_id,
/// sync_run_id) of each row that changed.
pub(crate) fn entity_upsert_rows(entity: EntityKind, fields: &[&str], rows: usize) -> String {
    let table = entity.table();
    let mut cols: Vec<&str> = vec!["connector", "source_key", "employee_id"];
    cols.extend(SUBJECT_COLUMNS);
    cols.extend(fields);
    cols.extend([
        "source_updated_at",
        "raw_record_id",
        "sync_run_id",
        "mapping_version",
        "updated_at",
    ]);
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=cols.len())
                .map(|i| format!("${}", r * cols.len() + i))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let mut sets = vec![
        "employee_id = COALESCE(excluded.employee_id, cur.employee_id)".to_string(),
        "source_updated_at = COALESCE(excluded.source_updated_at, cur.source_updated_at)"
            .to_string(),
        "raw_record_id = excluded.raw_record_id".to_string(),
        "sync_run_id = excluded.sync_run_id".to_string(),
        "mapping_version = excluded.mapping_version".to_string(),
        "updated_at = excluded.updated_at".to_string(),
        "deleted_at = NULL".to_string(),
    ];
    for c in SUBJECT_COLUMNS {
        sets.push(format!("{c} = COALESCE(excluded.{c}, cur.{c})"));
    }
    let mut differs = vec![
        "cur.deleted_at IS NOT NULL".to_string(),
        "(cur.employee_id IS NULL AND excluded.employee_id IS NOT NULL)".to_string(),
        // a newer version with the same content must still raise the
        // version, or an older one arriving later would overwrite it
        "(excluded.source_updated_at IS NOT NULL AND (cur.source_updated_at IS NULL \
          OR excluded.source_updated_at > cur.source_updated_at))"
            .to_string(),
    ];
    for f in fields {
        sets.push(format!("{f} = excluded.{f}"));
        differs.push(format!("cur.{f} IS DISTINCT FROM excluded.{f}"));
    }
    format!(
        "INSERT INTO {table} AS cur ({cols}) VALUES {vals} \
         ON CONFLICT (connector, source_key) DO UPDATE SET {sets} \
         WHERE (cur.source_updated_at IS NULL OR excluded.source_updated_at IS NULL \
                OR excluded.source_updated_at >= cur.source_updated_at) \
           AND ({differs}) \
         RETURNING id, employee_id, sync_run_id",
        cols = cols.join(", "),
        vals = values.join(", "),
        sets = sets.join(", "),
        differs = differs.join(" OR "),
    )
}

/// Insert of a new employee with the given fields. Parameters: one per
/// field, then connector, source_key, source_updated_at, raw_record_id,
/// sync_run_id, mapping_version, updated_at.
pub(crate) fn employee_insert(fields: &[&str]) -> String {
    let mut cols: Vec<&str> = fields.to_vec();
    cols.extend([
        "connector",
        "source_key",
        "source_updated_at",
        "raw_record_id",
        "sync_run_id",
        "mapping_version",
        "updated_at",
    ]);
    let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO employees ({}) VALUES ({}) RETURNING id",
        cols.join(", "),
        placeholders.join(", ")
    )
}

/// Update of an existing employee's given fields, only if one differs.
/// Parameters: $1 id, then one per field, then connector, source_key,
/// source_updated_at, raw_record_id, sync_run_id, mapping_version, updated_at.
pub(crate) fn employee_update(fields: &[&str]) -> String {
    let n = fields.len();
    let mut sets: Vec<String> = Vec::new();
    let mut differs: Vec<String> = vec!["deleted_at IS NOT NULL".to_string()];
    for (i, f) in fields.iter().enumerate() {
        sets.push(format!("{f} = ${}", i + 2));
        differs.push(format!("{f} IS DISTINCT FROM ${}", i + 2));
    }
    for (j, c) in [
        "connector",
        "source_key",
        "source_updated_at",
        "raw_record_id",
        "sync_run_id",
        "mapping_version",
        "updated_at",
    ]
    .iter()
    .enumerate()
    {
        sets.push(format!("{c} = ${}", n + 2 + j));
    }
    sets.push("deleted_at = NULL".to_string());
    format!(
        "UPDATE employees SET {} WHERE id = $1 AND ({}) RETURNING id",
        sets.join(", "),
        differs.join(" OR ")
    )
}
