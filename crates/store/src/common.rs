// The store implementation shared by both backends.
//
// This file is `include!`d by `sqlite.rs` and `postgres.rs`, each of which
// defines `Db` (the sqlx database), `ThisStore` (a struct with a `pool`
// field), `BACKEND` and `BEGIN` (the statement that opens a write
// transaction). sqlx's query API is the same for both databases, so one text
// serves both; only what genuinely differs lives in the backend files.

use crate::sql;
use crate::{ApiSession, ApiToken, EntityQuery, Landing, Unmatched, MatchKey, QuarantineEntry, RunTotals, EntityWrite, ScanGaps, StoreError, StoreTx, StreamHoldings, Upserted, WriteContext};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use hrhub_model::{
    ChangeEvent, ChangeOp, EntityKind, FieldSpec, FieldType, FieldValue, IdentityConflict, IdentityKeys, IdentityLink,
    AttendanceSummary, HelpdeskSummary, PerformanceSummary, SatisfactionSummary, TrainingSummary,
    MappedEntity, RawRecord, RecordOp, SerializedRecord, RunCounts, RunStatus, RunTrigger, StreamState, SyncRun,
};
use sqlx::types::Json;
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

type DbQuery<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

/// Change events wait here until commit, when they get their sequence.
struct PendingChange {
    entity: EntityKind,
    entity_id: i64,
    op: ChangeOp,
    employee_id: Option<i64>,
    sync_run_id: Option<i64>,
}

pub(crate) struct Tx {
    tx: sqlx::Transaction<'static, Db>,
    changes: Vec<PendingChange>,
    now: DateTime<Utc>,
    /// Held until the transaction ends where the backend queues its
    /// writers in the process (SQLite); declared after `tx` so it is
    /// released after a dropped transaction starts its rollback.
    _writer_turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

fn bind_value<'q>(
    query: DbQuery<'q>,
    entity: EntityKind,
    spec: &FieldSpec,
    value: &FieldValue,
) -> Result<DbQuery<'q>, StoreError> {
    let mismatch = || StoreError::Value {
        entity: entity.as_str(),
        field: spec.name.to_string(),
        message: format!("expected {}, got {value:?}", spec.ty),
    };
    // NULLs are bound with the column's type: PostgreSQL will not cast a
    // text-typed NULL into a bigint column.
    Ok(match (spec.ty, value) {
        (FieldType::Text | FieldType::Enum(_), FieldValue::Text(s)) => query.bind(s.clone()),
        (FieldType::Text | FieldType::Enum(_), FieldValue::Null) => query.bind(None::<String>),
        (FieldType::Integer, FieldValue::Integer(i)) => query.bind(*i),
        (FieldType::Integer, FieldValue::Null) => query.bind(None::<i64>),
        (FieldType::Number, FieldValue::Number(n)) => query.bind(*n),
        (FieldType::Number, FieldValue::Integer(i)) => query.bind(*i as f64),
        (FieldType::Number, FieldValue::Null) => query.bind(None::<f64>),
        (FieldType::Bool, FieldValue::Bool(b)) => query.bind(*b),
        (FieldType::Bool, FieldValue::Null) => query.bind(None::<bool>),
        (FieldType::Date, FieldValue::Date(d)) => query.bind(*d),
        (FieldType::Date, FieldValue::Null) => query.bind(None::<NaiveDate>),
        (FieldType::DateTime, FieldValue::DateTime(t)) => query.bind(*t),
        (FieldType::DateTime, FieldValue::Null) => query.bind(None::<DateTime<Utc>>),
        _ => return Err(mismatch()),
    })
}

fn spec_of(entity: EntityKind, field: &str) -> Result<&'static FieldSpec, StoreError> {
    entity.field(field).ok_or_else(|| StoreError::Value {
        entity: entity.as_str(),
        field: field.to_string(),
        message: "not a field of this entity".to_string(),
    })
}

fn bind_provenance<'q>(query: DbQuery<'q>, mapped: &MappedEntity, ctx: &WriteContext, now: DateTime<Utc>) -> DbQuery<'q> {
    query
        .bind(mapped.source_updated_at)
        .bind(ctx.raw_record_id)
        .bind(ctx.sync_run_id)
        .bind(ctx.mapping_version.clone())
        .bind(now)
}

/// Binds one row of [`sql::entity_upsert_rows`].
fn bind_entity_row<'q>(
    query: DbQuery<'q>,
    mapped: &MappedEntity,
    employee_id: Option<i64>,
    ctx: &WriteContext,
    now: DateTime<Utc>,
) -> Result<DbQuery<'q>, StoreError> {
    let entity = mapped.entity;
    let keys = &mapped.identity;
    let mut q = query
        .bind(ctx.connector.clone())
        .bind(mapped.key.clone())
        .bind(employee_id)
        .bind(keys.external_id.clone())
        .bind(keys.employee_no.clone())
        .bind(keys.email.clone())
        .bind(keys.mobile.clone());
    for (name, value) in &mapped.fields {
        q = bind_value(q, entity, spec_of(entity, name)?, value)?;
    }
    Ok(bind_provenance(q, mapped, ctx, now))
}

/// Rows per entity upsert statement: about 30 parameters a row keeps a
/// statement well under both databases' parameter limits.
const UPSERT_CHUNK: usize = 250;

/// Records per landing statement (well under both databases' parameter
/// limits, and SQLite's 500 terms of a compound SELECT).
const LAND_CHUNK: usize = 200;

/// Pushes `SELECT {columns} FROM {table}` for each of `keys` in `scope`
/// (equalities on the leading columns of a unique key, `key_column` last)
/// that meets `condition`: one lookup per key on the whole key, glued with
/// UNION ALL. With `key_column IN (...)`, PostgreSQL without fresh
/// statistics (a first sync, autovacuum off) probes the scope prefix only
/// and filters every row in it, so each page costs as much as the stream's
/// size; an equality on the whole key is one index probe whatever the
/// statistics say (`tests/plans.rs` pins both).
fn push_key_lookups<'a>(
    qb: &mut sqlx::QueryBuilder<'a, Db>,
    (columns, table, condition): (&str, &str, &str),
    scope: &[(&str, &'a str)],
    key_column: &str,
    keys: &[&'a str],
) {
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push(format!("SELECT {columns} FROM {table} WHERE {condition}"));
        for (column, value) in scope {
            qb.push(format!(" AND {column} = ")).push_bind(*value);
        }
        qb.push(format!(" AND {key_column} = ")).push_bind(*key);
    }
}

impl Tx {
    /// Upserts the raw records at `indexes` (distinct keys) in one statement;
    /// with `keep_held`, a held key is left as it is.
    #[allow(clippy::too_many_arguments)]
    async fn write_raw(
        &mut self,
        connector: &str,
        records: &[RawRecord],
        serialized: &[SerializedRecord],
        indexes: &[usize],
        sync_run_id: Option<i64>,
        out: &mut [Landing],
        keep_held: bool,
    ) -> Result<(), StoreError> {
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO raw_records (connector, stream, external_id, content_hash, op, payload, observed_at, sync_run_id, landed_at) ",
        );
        let now = self.now;
        qb.push_values(indexes, |mut b, &i| {
            let r = &records[i];
            b.push_bind(connector.to_string())
                .push_bind(r.stream.clone())
                .push_bind(r.external_id.clone())
                .push_bind(serialized[i].content_hash.clone())
                .push_bind(r.op.as_str())
                .push_bind(Json(&*serialized[i].payload))
                .push_bind(r.observed_at)
                .push_bind(sync_run_id)
                .push_bind(now);
        });
        qb.push(if keep_held {
            " ON CONFLICT (connector, stream, external_id) DO NOTHING RETURNING stream, external_id, id"
        } else {
            " ON CONFLICT (connector, stream, external_id) DO UPDATE SET content_hash = excluded.content_hash, \
               op = excluded.op, payload = excluded.payload, observed_at = excluded.observed_at, \
               sync_run_id = excluded.sync_run_id, landed_at = excluded.landed_at \
             WHERE raw_records.content_hash <> excluded.content_hash \
             RETURNING stream, external_id, id"
        });
        let rows = qb.build().fetch_all(&mut *self.tx).await?;
        let mut ids: HashMap<(String, String), i64> = HashMap::with_capacity(rows.len());
        for row in rows {
            ids.insert((row.try_get(0)?, row.try_get(1)?), row.try_get(2)?);
        }
        for &i in indexes {
            let r = &records[i];
            if let Some(&raw_record_id) = ids.get(&(r.stream.clone(), r.external_id.clone())) {
                out[i] = Landing::Changed { raw_record_id };
            }
        }
        Ok(())
    }

    /// `UPDATE table SET column = value` on the rows of (connector,
    /// stream) whose external id is listed and that meet `condition`, in
    /// statements of [`LAND_CHUNK`] ids, each row found by its whole key
    /// ([`push_key_lookups`]).
    #[allow(clippy::too_many_arguments)]
    async fn update_by_external_ids<V>(
        &mut self,
        table: &str,
        column: &str,
        value: V,
        condition: &str,
        connector: &str,
        stream: &str,
        external_ids: &[&str],
    ) -> Result<(), StoreError>
    where
        V: for<'q> sqlx::Encode<'q, Db> + sqlx::Type<Db> + Copy + Send + 'static,
    {
        for chunk in external_ids.chunks(LAND_CHUNK) {
            let mut qb = sqlx::QueryBuilder::<Db>::new(format!("UPDATE {table} SET {column} = "));
            qb.push_bind(value).push(" WHERE id IN (");
            push_key_lookups(&mut qb, ("id", table, condition), &[("connector", connector), ("stream", stream)], "external_id", chunk);
            qb.push(")");
            qb.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    fn log(&mut self, entity: EntityKind, entity_id: i64, op: ChangeOp, employee_id: Option<i64>, sync_run_id: Option<i64>) {
        self.changes.push(PendingChange { entity, entity_id, op, employee_id, sync_run_id });
    }

    /// Attaches waiting rows of every person-bearing table matched by `filter_sql`
    /// (a condition on the row with `$2`, `$3` bound), logging each as a change.
    async fn attach_waiting(
        &mut self,
        employee_id: i64,
        filter_sql: &str,
        a: &str,
        b: Option<&str>,
    ) -> Result<u64, StoreError> {
        let mut attached = 0;
        for entity in EntityKind::ALL {
            if !entity.is_about_a_person() {
                continue;
            }
            let sql = format!(
                "UPDATE {} SET employee_id = $1 WHERE employee_id IS NULL AND {filter_sql} RETURNING id",
                entity.table()
            );
            let mut q = sqlx::query(&sql).bind(employee_id).bind(a.to_string());
            if let Some(b) = b {
                q = q.bind(b.to_string());
            }
            let rows = q.fetch_all(&mut *self.tx).await?;
            for row in rows {
                let id: i64 = row.try_get(0)?;
                self.log(entity, id, ChangeOp::Upsert, Some(employee_id), None);
                attached += 1;
            }
        }
        Ok(attached)
    }
}

#[async_trait]
impl StoreTx for Tx {
    async fn land_serialized(&mut self, connector: &str, records: &[RawRecord], serialized: &[SerializedRecord], sync_run_id: Option<i64>) -> Result<Vec<Landing>, StoreError> {
        if serialized.len() != records.len() {
            return Err(StoreError::Value {
                entity: "raw_records",
                field: "payload".to_string(),
                message: format!("{} serialized payloads for {} records", serialized.len(), records.len()),
            });
        }
        // What is held already, one query per stream and chunk.
        let mut held: HashMap<(String, String), String> = HashMap::new();
        let mut by_stream: HashMap<&str, Vec<&str>> = HashMap::new();
        for r in records {
            by_stream.entry(r.stream.as_str()).or_default().push(r.external_id.as_str());
        }
        for (stream, ids) in by_stream {
            for chunk in ids.chunks(LAND_CHUNK) {
                let mut qb = sqlx::QueryBuilder::<Db>::new("");
                push_key_lookups(
                    &mut qb,
                    ("external_id, content_hash", "raw_records", "TRUE"),
                    &[("connector", connector), ("stream", stream)],
                    "external_id",
                    chunk,
                );
                for row in qb.build().fetch_all(&mut *self.tx).await? {
                    held.insert((stream.to_string(), row.try_get(0)?), row.try_get(1)?);
                }
            }
        }
        // Changed records are written in multi-row statements; a key repeated
        // in the page starts a new statement (one row may change once per statement).
        let mut out = vec![Landing::Unchanged; records.len()];
        let mut pending: Vec<usize> = Vec::new();
        let mut pending_keys: HashSet<(String, String)> = HashSet::new();
        for (i, r) in records.iter().enumerate() {
            let key = (r.stream.clone(), r.external_id.clone());
            if held.get(&key) == Some(&serialized[i].content_hash) {
                continue;
            }
            if pending_keys.contains(&key) || pending.len() == LAND_CHUNK {
                self.write_raw(connector, records, serialized, &pending, sync_run_id, &mut out, false).await?;
                pending.clear();
                pending_keys.clear();
            }
            held.insert(key.clone(), serialized[i].content_hash.clone());
            pending.push(i);
            pending_keys.insert(key);
        }
        if !pending.is_empty() {
            self.write_raw(connector, records, serialized, &pending, sync_run_id, &mut out, false).await?;
        }
        Ok(out)
    }

    async fn land_new(&mut self, connector: &str, records: &[RawRecord], sync_run_id: Option<i64>) -> Result<Vec<Landing>, StoreError> {
        let serialized: Vec<SerializedRecord> = records.iter().map(RawRecord::serialize).collect();
        let mut out = vec![Landing::Unchanged; records.len()];
        // only the first copy of a key in the slice can be new
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        let firsts: Vec<usize> = (0..records.len())
            .filter(|&i| seen.insert((records[i].stream.as_str(), records[i].external_id.as_str())))
            .collect();
        for chunk in firsts.chunks(LAND_CHUNK) {
            self.write_raw(connector, records, &serialized, chunk, sync_run_id, &mut out, true).await?;
        }
        Ok(out)
    }

    async fn employee_by_link(&mut self, system: &str, external_id: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT employee_id FROM identity_links WHERE system = $1 AND external_id = $2")
            .bind(system)
            .bind(external_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn employees_by_links(&mut self, system: &str, external_ids: &[&str]) -> Result<Vec<(String, i64)>, StoreError> {
        let mut found = Vec::new();
        for chunk in external_ids.chunks(LAND_CHUNK) {
            let mut qb = sqlx::QueryBuilder::<Db>::new("");
            push_key_lookups(&mut qb, ("external_id, employee_id", "identity_links", "TRUE"), &[("system", system)], "external_id", chunk);
            for row in qb.build().fetch_all(&mut *self.tx).await? {
                found.push((row.try_get(0)?, row.try_get(1)?));
            }
        }
        Ok(found)
    }

    async fn employees_by_key(&mut self, key: MatchKey, value: &str) -> Result<Vec<i64>, StoreError> {
        let sql = format!(
            "SELECT id FROM employees WHERE {} = $1 AND deleted_at IS NULL ORDER BY id LIMIT 2",
            key.as_str()
        );
        let rows = sqlx::query(&sql).bind(value).fetch_all(&mut *self.tx).await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    async fn employee_no(&mut self, employee_id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT employee_no FROM employees WHERE id = $1")
            .bind(employee_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.map(|r| r.try_get::<Option<String>, _>(0)).transpose()?.flatten())
    }

    async fn record_conflict(&mut self, c: &IdentityConflict) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO identity_conflicts (system, external_id, key_name, key_value, chosen_employee_id, other_employee_id, detected_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (system, external_id, key_name, key_value, other_employee_id) DO NOTHING",
        )
        .bind(&c.system)
        .bind(c.external_id.clone().unwrap_or_default())
        .bind(&c.key)
        .bind(&c.value)
        .bind(c.chosen_employee_id)
        .bind(c.other_employee_id)
        .bind(self.now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn link_identity(&mut self, system: &str, external_id: &str, employee_id: i64, matched_by: &str) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO identity_links (system, external_id, employee_id, matched_by, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (system, external_id) DO NOTHING",
        )
        .bind(system)
        .bind(external_id)
        .bind(employee_id)
        .bind(matched_by)
        .bind(self.now)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if inserted > 0 {
            self.attach_waiting(employee_id, "connector = $2 AND subject_external_id = $3", system, Some(external_id))
                .await?;
        }
        Ok(())
    }

    async fn upsert_employee(&mut self, id: Option<i64>, mapped: &MappedEntity, ctx: &WriteContext) -> Result<Upserted, StoreError> {
        let entity = EntityKind::Employee;
        // Only non-null values: a source that lacks a field leaves another's value alone.
        let fields: Vec<(&'static FieldSpec, &FieldValue)> = mapped
            .fields
            .iter()
            .filter(|(_, v)| *v != FieldValue::Null)
            .map(|(n, v)| Ok((spec_of(entity, n)?, v)))
            .collect::<Result<_, StoreError>>()?;
        let names: Vec<&str> = fields.iter().map(|(s, _)| s.name).collect();
        let sql = match id {
            None => sql::employee_insert(&names),
            Some(_) => sql::employee_update(&names),
        };
        let mut q = sqlx::query(&sql);
        if let Some(id) = id {
            q = q.bind(id);
        }
        for (spec, value) in &fields {
            q = bind_value(q, entity, spec, value)?;
        }
        q = q.bind(ctx.connector.clone()).bind(mapped.key.clone());
        q = bind_provenance(q, mapped, ctx, self.now);
        let row = q.fetch_optional(&mut *self.tx).await?;
        match row {
            Some(row) => {
                let new_id: i64 = row.try_get(0)?;
                self.log(entity, new_id, ChangeOp::Upsert, Some(new_id), ctx.sync_run_id);
                Ok(Upserted { id: new_id, changed: true })
            }
            None => Ok(Upserted { id: id.expect("an insert always returns its id"), changed: false }),
        }
    }

    async fn resolve_waiting(&mut self, employee_id: i64, keys: &IdentityKeys) -> Result<u64, StoreError> {
        let mut attached = 0;
        for (column, value) in [
            ("subject_employee_no", &keys.employee_no),
            ("subject_email", &keys.email),
            ("subject_mobile", &keys.mobile),
        ] {
            if let Some(value) = value {
                attached += self.attach_waiting(employee_id, &format!("{column} = $2"), value, None).await?;
            }
        }
        Ok(attached)
    }

    async fn upsert_entity(&mut self, mapped: &MappedEntity, employee_id: Option<i64>, ctx: &WriteContext) -> Result<Upserted, StoreError> {
        let entity = mapped.entity;
        let names: Vec<&str> = mapped.fields.iter().map(|(n, _)| *n).collect();
        let sql = positional(sql::entity_upsert(entity, &names));
        let q = bind_entity_row(sqlx::query(&sql), mapped, employee_id, ctx, self.now)?;
        match q.fetch_optional(&mut *self.tx).await? {
            Some(row) => {
                let id: i64 = row.try_get(0)?;
                let employee: Option<i64> = row.try_get(1)?;
                self.log(entity, id, ChangeOp::Upsert, employee, ctx.sync_run_id);
                Ok(Upserted { id, changed: true })
            }
            None => {
                let sql = format!("SELECT id FROM {} WHERE connector = $1 AND source_key = $2", entity.table());
                let id: i64 = sqlx::query(&sql)
                    .bind(&ctx.connector)
                    .bind(&mapped.key)
                    .fetch_one(&mut *self.tx)
                    .await?
                    .try_get(0)?;
                Ok(Upserted { id, changed: false })
            }
        }
    }

    async fn upsert_entities(&mut self, writes: &[EntityWrite]) -> Result<u64, StoreError> {
        let mut changed = 0;
        let mut start = 0;
        while start < writes.len() {
            // a run of rows one statement can take: same entity and fields, distinct keys
            let first = &writes[start].mapped;
            let names: Vec<&str> = first.fields.iter().map(|(n, _)| *n).collect();
            let mut keys = HashSet::new();
            let mut end = start;
            while end < writes.len() && end - start < UPSERT_CHUNK {
                let m = &writes[end].mapped;
                let same_shape = m.entity == first.entity
                    && m.fields.len() == names.len()
                    && m.fields.iter().zip(&names).all(|((n, _), name)| n == name);
                if !same_shape || !keys.insert(m.key.as_str()) {
                    break;
                }
                end += 1;
            }
            let chunk = &writes[start..end];
            let sql = positional(sql::entity_upsert_rows(first.entity, &names, chunk.len()));
            let mut q = sqlx::query(&sql);
            for w in chunk {
                q = bind_entity_row(q, &w.mapped, w.employee_id, &w.ctx, self.now)?;
            }
            for row in q.fetch_all(&mut *self.tx).await? {
                let id: i64 = row.try_get(0)?;
                let employee: Option<i64> = row.try_get(1)?;
                let run: Option<i64> = row.try_get(2)?;
                self.log(first.entity, id, ChangeOp::Upsert, employee, run);
                changed += 1;
            }
            start = end;
        }
        Ok(changed)
    }

    async fn delete_entity(&mut self, entity: EntityKind, connector: &str, key: &str, ctx: &WriteContext) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE {} SET deleted_at = $1, updated_at = $1, raw_record_id = $2, sync_run_id = $3 \
             WHERE connector = $4 AND source_key = $5 AND deleted_at IS NULL RETURNING id, employee_id",
            entity.table()
        );
        let row = sqlx::query(&sql)
            .bind(self.now)
            .bind(ctx.raw_record_id)
            .bind(ctx.sync_run_id)
            .bind(connector)
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await?;
        match row {
            Some(row) => {
                let id: i64 = row.try_get(0)?;
                let employee: Option<i64> = row.try_get(1)?;
                self.log(entity, id, ChangeOp::Delete, employee, ctx.sync_run_id);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn quarantine(
        &mut self,
        connector: &str,
        record: &RawRecord,
        raw_record_id: Option<i64>,
        reason: &str,
        mapping: Option<&str>,
        sync_run_id: Option<i64>,
    ) -> Result<(), StoreError> {
        // One open entry per raw record: a re-quarantine replaces the reason.
        self.resolve_quarantine(connector, &record.stream, &[record.external_id.as_str()]).await?;
        sqlx::query(
            "INSERT INTO quarantine (connector, stream, external_id, raw_record_id, payload, reason, mapping, sync_run_id, quarantined_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(connector)
        .bind(&record.stream)
        .bind(&record.external_id)
        .bind(raw_record_id)
        .bind(Json(&record.payload))
        .bind(reason)
        .bind(mapping)
        .bind(sync_run_id)
        .bind(self.now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn resolve_quarantine(&mut self, connector: &str, stream: &str, external_ids: &[&str]) -> Result<(), StoreError> {
        let now = self.now;
        self.update_by_external_ids("quarantine", "resolved_at", now, "resolved_at IS NULL", connector, stream, external_ids)
            .await
    }

    async fn set_cursor(
        &mut self,
        connector: &str,
        stream: &str,
        cursor: Option<&str>,
        newest: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO stream_state (connector, stream, cursor, updated_at, newest_source_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (connector, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at, \
               newest_source_at = CASE \
                 WHEN excluded.newest_source_at IS NULL THEN stream_state.newest_source_at \
                 WHEN stream_state.newest_source_at IS NULL OR excluded.newest_source_at > stream_state.newest_source_at \
                   THEN excluded.newest_source_at \
                 ELSE stream_state.newest_source_at END",
        )
        .bind(connector)
        .bind(stream)
        .bind(cursor)
        .bind(self.now)
        .bind(newest)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn set_scan(&mut self, connector: &str, stream: &str, scan_id: Option<i64>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO stream_state (connector, stream, updated_at, scan_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (connector, stream) DO UPDATE SET scan_id = excluded.scan_id",
        )
        .bind(connector)
        .bind(stream)
        .bind(self.now)
        .bind(scan_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn mark_seen(&mut self, connector: &str, stream: &str, scan_id: i64, external_ids: &[&str]) -> Result<(), StoreError> {
        self.update_by_external_ids("raw_records", "seen_scan", scan_id, "TRUE", connector, stream, external_ids)
            .await
    }

    async fn unseen_in_scan(&mut self, connector: &str, stream: &str, scan_id: i64) -> Result<ScanGaps, StoreError> {
        // Only the unseen keys are read (usually few), and the seen ones
        // counted: a scan of a million records does not hold a million keys.
        let unseen = sqlx::query(
            "SELECT external_id FROM raw_records WHERE connector = $1 AND stream = $2 AND op <> 'delete' \
             AND (seen_scan IS NULL OR seen_scan <> $3) ORDER BY external_id",
        )
        .bind(connector)
        .bind(stream)
        .bind(scan_id)
        .fetch_all(&mut *self.tx)
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<Vec<String>, _>>()?;
        let seen: i64 = sqlx::query(
            "SELECT COUNT(*) FROM raw_records WHERE connector = $1 AND stream = $2 AND op <> 'delete' AND seen_scan = $3",
        )
        .bind(connector)
        .bind(stream)
        .bind(scan_id)
        .fetch_one(&mut *self.tx)
        .await?
        .try_get(0)?;
        Ok(ScanGaps { unseen, seen: seen as usize })
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let Tx { mut tx, changes, now, _writer_turn } = *self;
        if !changes.is_empty() {
            // Taking the counter row last keeps its lock short; writers that
            // commit later get later numbers, and a rollback returns them.
            let last: i64 = sqlx::query("UPDATE hub_sequences SET value = value + $1 WHERE name = 'change_log' RETURNING value")
                .bind(changes.len() as i64)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            let first = last - changes.len() as i64 + 1;
            for (chunk_index, chunk) in changes.chunks(500).enumerate() {
                let mut qb = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO change_log (seq, entity, entity_id, op, employee_id, sync_run_id, changed_at) ",
                );
                qb.push_values(chunk.iter().enumerate(), |mut b, (i, c)| {
                    b.push_bind(first + (chunk_index * 500 + i) as i64)
                        .push_bind(c.entity.as_str())
                        .push_bind(c.entity_id)
                        .push_bind(c.op.as_str())
                        .push_bind(c.employee_id)
                        .push_bind(c.sync_run_id)
                        .push_bind(now);
                });
                qb.build().execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

fn run_from_row(row: &<Db as sqlx::Database>::Row) -> Result<SyncRun, StoreError> {
    let trigger: String = row.try_get("trigger")?;
    let status: String = row.try_get("status")?;
    Ok(SyncRun {
        id: row.try_get("id")?,
        connector: row.try_get("connector")?,
        stream: row.try_get("stream")?,
        trigger: match trigger.as_str() {
            "schedule" => RunTrigger::Schedule,
            "webhook" => RunTrigger::Webhook,
            "replay" => RunTrigger::Replay,
            _ => RunTrigger::Manual,
        },
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        counts: RunCounts {
            fetched: row.try_get("fetched")?,
            unchanged: row.try_get("unchanged")?,
            upserted: row.try_get("upserted")?,
            quarantined: row.try_get("quarantined")?,
            filtered: row.try_get("filtered")?,
            unmatched: row.try_get("unmatched")?,
        },
        error: row.try_get("error")?,
    })
}

fn token_from_row(row: &<Db as sqlx::Database>::Row) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn column_json(row: &<Db as sqlx::Database>::Row, name: &str, ty: FieldType) -> Result<serde_json::Value, StoreError> {
    use serde_json::Value;
    Ok(match ty {
        FieldType::Text | FieldType::Enum(_) => row.try_get::<Option<String>, _>(name)?.map(Value::from).unwrap_or(Value::Null),
        FieldType::Integer => row.try_get::<Option<i64>, _>(name)?.map(Value::from).unwrap_or(Value::Null),
        FieldType::Number => row.try_get::<Option<f64>, _>(name)?.map(Value::from).unwrap_or(Value::Null),
        FieldType::Bool => row.try_get::<Option<bool>, _>(name)?.map(Value::from).unwrap_or(Value::Null),
        FieldType::Date => row
            .try_get::<Option<NaiveDate>, _>(name)?
            .map(|d| Value::from(d.to_string()))
            .unwrap_or(Value::Null),
        FieldType::DateTime => row
            .try_get::<Option<DateTime<Utc>>, _>(name)?
            .map(|t| Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
            .unwrap_or(Value::Null),
    })
}

#[async_trait]
impl crate::Store for ThisStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        let writer_turn = self.writer_turn().await;
        let tx = self.pool.begin_with(BEGIN).await?;
        Ok(Box::new(Tx { tx, changes: Vec::new(), now: Utc::now(), _writer_turn: writer_turn }))
    }

    async fn start_run(&self, connector: &str, stream: &str, trigger: RunTrigger) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO sync_runs (connector, stream, trigger, status, started_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(connector)
        .bind(stream)
        .bind(trigger.as_str())
        .bind(RunStatus::Running.as_str())
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get(0)?)
    }

    async fn update_run(&self, run_id: i64, c: &RunCounts) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sync_runs SET fetched = $2, unchanged = $3, upserted = $4, quarantined = $5, filtered = $6, unmatched = $7 WHERE id = $1",
        )
        .bind(run_id)
        .bind(c.fetched)
        .bind(c.unchanged)
        .bind(c.upserted)
        .bind(c.quarantined)
        .bind(c.filtered)
        .bind(c.unmatched)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_run(&self, run_id: i64, status: RunStatus, c: &RunCounts, error: Option<&str>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sync_runs SET status = $2, finished_at = $3, fetched = $4, unchanged = $5, upserted = $6, \
             quarantined = $7, filtered = $8, unmatched = $9, error = $10 WHERE id = $1",
        )
        .bind(run_id)
        .bind(status.as_str())
        .bind(Utc::now())
        .bind(c.fetched)
        .bind(c.unchanged)
        .bind(c.upserted)
        .bind(c.quarantined)
        .bind(c.filtered)
        .bind(c.unmatched)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn runs(&self, connector: Option<&str>, stream: Option<&str>, limit: i64) -> Result<Vec<SyncRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM sync_runs WHERE (CAST($1 AS TEXT) IS NULL OR connector = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR stream = $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(connector)
        .bind(stream)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    async fn stream_state(&self, connector: &str, stream: &str) -> Result<Option<StreamState>, StoreError> {
        let row = sqlx::query("SELECT cursor, updated_at, newest_source_at, scan_id FROM stream_state WHERE connector = $1 AND stream = $2")
            .bind(connector)
            .bind(stream)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(StreamState {
                connector: connector.to_string(),
                stream: stream.to_string(),
                cursor: row.try_get("cursor")?,
                updated_at: row.try_get("updated_at")?,
                newest_source_at: row.try_get("newest_source_at")?,
                scan_id: row.try_get("scan_id")?,
            })
        })
        .transpose()
    }

    async fn holdings(&self, connector: &str, stream: &str) -> Result<StreamHoldings, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM raw_records WHERE connector = $1 AND stream = $2), \
                    (SELECT COUNT(*) FROM quarantine WHERE connector = $1 AND stream = $2 AND resolved_at IS NULL)",
        )
        .bind(connector)
        .bind(stream)
        .fetch_one(&self.pool)
        .await?;
        Ok(StreamHoldings { records: row.try_get(0)?, quarantined: row.try_get(1)? })
    }

    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(5));
        let row = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.expires_at < $4 OR leases.holder = excluded.holder \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(expires)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT holder FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn take_over_lease(&self, name: &str, from: &str, to: &str, ttl: Duration) -> Result<bool, StoreError> {
        let expires = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(5));
        let done = sqlx::query("UPDATE leases SET holder = $1, expires_at = $2 WHERE name = $3 AND holder = $4")
            .bind(to)
            .bind(expires)
            .bind(name)
            .bind(from)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    async fn changes(&self, after: i64, limit: i64) -> Result<Vec<ChangeEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, entity, entity_id, op, employee_id, sync_run_id, changed_at FROM change_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let entity: String = row.try_get("entity")?;
                let op: String = row.try_get("op")?;
                Ok(ChangeEvent {
                    seq: row.try_get("seq")?,
                    entity: EntityKind::parse(&entity).ok_or_else(|| StoreError::Value {
                        entity: "change_log",
                        field: "entity".into(),
                        message: format!("unknown entity `{entity}`"),
                    })?,
                    entity_id: row.try_get("entity_id")?,
                    op: if op == "delete" { ChangeOp::Delete } else { ChangeOp::Upsert },
                    employee_id: row.try_get("employee_id")?,
                    sync_run_id: row.try_get("sync_run_id")?,
                    changed_at: row.try_get("changed_at")?,
                })
            })
            .collect()
    }

    async fn quarantined(&self, connector: Option<&str>, limit: i64) -> Result<Vec<QuarantineEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM quarantine WHERE resolved_at IS NULL AND (CAST($1 AS TEXT) IS NULL OR connector = $1) ORDER BY id LIMIT $2",
        )
        .bind(connector)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(QuarantineEntry {
                    id: row.try_get("id")?,
                    connector: row.try_get("connector")?,
                    stream: row.try_get("stream")?,
                    external_id: row.try_get("external_id")?,
                    raw_record_id: row.try_get("raw_record_id")?,
                    payload: row.try_get::<Json<serde_json::Value>, _>("payload")?.0,
                    reason: row.try_get("reason")?,
                    mapping: row.try_get("mapping")?,
                    sync_run_id: row.try_get("sync_run_id")?,
                    quarantined_at: row.try_get("quarantined_at")?,
                })
            })
            .collect()
    }

    async fn raw_records(&self, connector: &str, stream: &str, after_id: i64, limit: i64) -> Result<Vec<(i64, RawRecord)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, external_id, op, payload, observed_at FROM raw_records \
             WHERE connector = $1 AND stream = $2 AND id > $3 ORDER BY id LIMIT $4",
        )
        .bind(connector)
        .bind(stream)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let op: String = row.try_get("op")?;
                Ok((
                    row.try_get("id")?,
                    RawRecord {
                        stream: stream.to_string(),
                        external_id: row.try_get("external_id")?,
                        payload: row.try_get::<Json<serde_json::Value>, _>("payload")?.0,
                        op: if op == "delete" { RecordOp::Delete } else { RecordOp::Upsert },
                        observed_at: row.try_get("observed_at")?,
                    },
                ))
            })
            .collect()
    }

    async fn query_entities(
        &self,
        entity: EntityKind,
        query: &EntityQuery,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreError> {
        let mut qb = sqlx::QueryBuilder::<Db>::new(format!("SELECT * FROM {} WHERE deleted_at IS NULL AND id > ", entity.table()));
        qb.push_bind(query.after_id);
        if let Some(employee_id) = query.employee_id {
            let column = if entity == EntityKind::Employee { "id" } else { "employee_id" };
            qb.push(format!(" AND {column} = ")).push_bind(employee_id);
        }
        if let Some(period) = entity.period_field() {
            for (bound, op) in [(query.from, ">="), (query.to, "<")] {
                let Some(day) = bound else { continue };
                qb.push(format!(" AND {} {op} ", period.name));
                match period.ty {
                    FieldType::Date => qb.push_bind(day),
                    _ => qb.push_bind(day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()),
                };
            }
        }
        if let Some(since) = query.updated_since {
            qb.push(" AND updated_at >= ").push_bind(since);
        }
        for (field, value) in &query.equals {
            // only schema fields reach the SQL text
            let spec = spec_of(entity, field)?;
            qb.push(format!(" AND {} = ", spec.name)).push_bind(value.clone());
        }
        qb.push(" ORDER BY id LIMIT ").push_bind(query.limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut obj = serde_json::Map::new();
            obj.insert("id".into(), row.try_get::<i64, _>("id")?.into());
            if entity != EntityKind::Employee {
                obj.insert("employee_id".into(), column_json(row, "employee_id", FieldType::Integer)?);
            }
            for spec in entity.fields() {
                obj.insert(spec.name.into(), column_json(row, spec.name, spec.ty)?);
            }
            for (name, ty) in [
                ("connector", FieldType::Text),
                ("source_key", FieldType::Text),
                ("raw_record_id", FieldType::Integer),
                ("sync_run_id", FieldType::Integer),
                ("mapping_version", FieldType::Text),
                ("updated_at", FieldType::DateTime),
            ] {
                obj.insert(name.into(), column_json(row, name, ty)?);
            }
            out.push(obj);
        }
        Ok(out)
    }

    async fn performance(&self, employee_id: i64, from: NaiveDate, to: NaiveDate) -> Result<PerformanceSummary, StoreError> {
        let (start, end) = (
            from.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
            to.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
        );
        let count = |result: &str| format!("COALESCE(SUM(CASE WHEN result = '{result}' THEN 1 ELSE 0 END), 0)");
        let a = sqlx::query(&format!(
            "SELECT COUNT(DISTINCT work_date), {}, {}, {}, {} FROM attendance_records \
             WHERE employee_id = $1 AND deleted_at IS NULL AND work_date >= $2 AND work_date < $3",
            count("late"),
            count("early"),
            count("absent"),
            count("missing")
        ))
        .bind(employee_id)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        let h = sqlx::query(
            "SELECT COUNT(*), \
                    COALESCE(SUM(CASE WHEN status IN ('solved', 'closed') THEN 1 ELSE 0 END), 0), \
                    COALESCE(SUM(CASE WHEN status IN ('solved', 'closed') AND reopens > 0 THEN 1 ELSE 0 END), 0), \
                    CAST(AVG(first_reply_minutes) AS DOUBLE PRECISION), \
                    CAST(AVG(CASE WHEN status IN ('solved', 'closed') THEN full_resolution_minutes END) AS DOUBLE PRECISION) \
             FROM ticket_activities WHERE employee_id = $1 AND deleted_at IS NULL AND created_at >= $2 AND created_at < $3",
        )
        .bind(employee_id)
        .bind(start)
        .bind(end)
        .fetch_one(&self.pool)
        .await?;
        let s = sqlx::query(
            "SELECT COUNT(*), CAST(AVG(score_normalized) AS DOUBLE PRECISION), \
                    COALESCE(SUM(CASE WHEN score_normalized >= 0.5 THEN 1 ELSE 0 END), 0) \
             FROM satisfaction_ratings WHERE employee_id = $1 AND deleted_at IS NULL AND rated_at >= $2 AND rated_at < $3",
        )
        .bind(employee_id)
        .bind(start)
        .bind(end)
        .fetch_one(&self.pool)
        .await?;
        let t = sqlx::query(
            "SELECT COUNT(*), CAST(AVG(score) AS DOUBLE PRECISION), CAST(MIN(score) AS DOUBLE PRECISION) \
             FROM training_results WHERE employee_id = $1 AND deleted_at IS NULL AND completed_at >= $2 AND completed_at < $3",
        )
        .bind(employee_id)
        .bind(start)
        .bind(end)
        .fetch_one(&self.pool)
        .await?;
        let ratio = |part: i64, whole: i64| (whole > 0).then(|| part as f64 / whole as f64);
        let (tickets, solved, reopened): (i64, i64, i64) = (h.try_get(0)?, h.try_get(1)?, h.try_get(2)?);
        let (ratings, good): (i64, i64) = (s.try_get(0)?, s.try_get(2)?);
        Ok(PerformanceSummary {
            employee_id,
            from,
            to,
            attendance: AttendanceSummary {
                days: a.try_get(0)?,
                late: a.try_get(1)?,
                early: a.try_get(2)?,
                absent: a.try_get(3)?,
                missing: a.try_get(4)?,
            },
            helpdesk: HelpdeskSummary {
                tickets,
                solved,
                resolution_rate: ratio(solved, tickets),
                reopen_rate: ratio(reopened, solved),
                avg_first_reply_minutes: h.try_get(3)?,
                avg_resolution_minutes: h.try_get(4)?,
            },
            satisfaction: SatisfactionSummary {
                ratings,
                // normalized 0–1 onto the 1–5 scale HR thresholds use
                average_5: s.try_get::<Option<f64>, _>(1)?.map(|avg| 1.0 + 4.0 * avg),
                good_share: ratio(good, ratings),
                bad_share: ratio(ratings - good, ratings),
            },
            training: TrainingSummary {
                completed: t.try_get(0)?,
                average_score: t.try_get(1)?,
                lowest_score: t.try_get(2)?,
            },
        })
    }

    async fn identity_links(&self, employee_id: i64) -> Result<Vec<IdentityLink>, StoreError> {
        let rows = sqlx::query("SELECT * FROM identity_links WHERE employee_id = $1 ORDER BY system, external_id")
            .bind(employee_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(IdentityLink {
                    system: row.try_get("system")?,
                    external_id: row.try_get("external_id")?,
                    employee_id: row.try_get("employee_id")?,
                    matched_by: row.try_get("matched_by")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn create_token(&self, name: &str, role: &str, token_hash: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(name)
            .bind(role)
            .bind(token_hash)
            .bind(Utc::now())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query("SELECT id, name, role, created_at, revoked_at FROM api_tokens ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, role, created_at, revoked_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn revoke_token(&self, name: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
            .bind(Utc::now())
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn create_session(&self, session_hash: &str, token_id: i64, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        let now = Utc::now();
        // expired sessions are dropped here rather than by a background job
        sqlx::query("DELETE FROM api_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO api_sessions (session_hash, token_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(session_hash)
            .bind(token_id)
            .bind(now)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session_by_hash(&self, session_hash: &str) -> Result<Option<ApiSession>, StoreError> {
        let row = sqlx::query(
            "SELECT t.id, t.name, t.role, t.created_at, t.revoked_at, s.created_at AS session_created_at, s.expires_at \
             FROM api_sessions s JOIN api_tokens t ON t.id = s.token_id \
             WHERE s.session_hash = $1 AND s.expires_at > $2 AND t.revoked_at IS NULL",
        )
        .bind(session_hash)
        .bind(Utc::now())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(ApiSession {
                token: token_from_row(&row)?,
                created_at: row.try_get("session_created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    async fn delete_session(&self, session_hash: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM api_sessions WHERE session_hash = $1")
            .bind(session_hash)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    async fn unmatched(&self, limit: i64) -> Result<Vec<Unmatched>, StoreError> {
        let mut out = Vec::new();
        for entity in EntityKind::ALL.into_iter().filter(|e| e.is_about_a_person()) {
            let sql = format!(
                "SELECT connector, subject_external_id, subject_employee_no, subject_email, subject_mobile, COUNT(*) AS n \
                 FROM {} WHERE employee_id IS NULL AND deleted_at IS NULL \
                 GROUP BY connector, subject_external_id, subject_employee_no, subject_email, subject_mobile \
                 ORDER BY n DESC LIMIT $1",
                entity.table()
            );
            for row in sqlx::query(&sql).bind(limit).fetch_all(&self.pool).await? {
                let keys = (
                    row.try_get::<Option<String>, _>(1)?,
                    row.try_get::<Option<String>, _>(2)?,
                    row.try_get::<Option<String>, _>(3)?,
                    row.try_get::<Option<String>, _>(4)?,
                );
                if keys == (None, None, None, None) {
                    continue; // names no one (e.g. metrics-only rows)
                }
                out.push(Unmatched {
                    connector: row.try_get(0)?,
                    entity,
                    external_id: keys.0,
                    employee_no: keys.1,
                    email: keys.2,
                    mobile: keys.3,
                    records: row.try_get(5)?,
                });
            }
        }
        out.sort_by_key(|u| std::cmp::Reverse(u.records));
        out.truncate(limit.max(0) as usize);
        Ok(out)
    }

    async fn conflicts(&self, limit: i64) -> Result<Vec<IdentityConflict>, StoreError> {
        let rows = sqlx::query("SELECT * FROM identity_conflicts ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let external_id: String = row.try_get("external_id")?;
                Ok(IdentityConflict {
                    id: row.try_get("id")?,
                    system: row.try_get("system")?,
                    external_id: (!external_id.is_empty()).then_some(external_id),
                    key: row.try_get("key_name")?,
                    value: row.try_get("key_value")?,
                    chosen_employee_id: row.try_get("chosen_employee_id")?,
                    other_employee_id: row.try_get("other_employee_id")?,
                    detected_at: row.try_get("detected_at")?,
                })
            })
            .collect()
    }

    async fn conflict_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM identity_conflicts").fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }

    async fn run_totals(&self) -> Result<Vec<RunTotals>, StoreError> {
        let rows = sqlx::query(
            "SELECT connector, stream, status, COUNT(*), CAST(SUM(fetched) AS BIGINT), \
                    CAST(SUM(upserted) AS BIGINT), CAST(SUM(quarantined) AS BIGINT) \
             FROM sync_runs GROUP BY connector, stream, status ORDER BY connector, stream, status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get(2)?;
                Ok(RunTotals {
                    connector: row.try_get(0)?,
                    stream: row.try_get(1)?,
                    status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
                    runs: row.try_get(3)?,
                    fetched: row.try_get(4)?,
                    upserted: row.try_get(5)?,
                    quarantined: row.try_get(6)?,
                })
            })
            .collect()
    }

    async fn entity_counts(&self, entity: EntityKind) -> Result<(i64, i64), StoreError> {
        let unmatched = if entity.is_about_a_person() { "COUNT(*) - COUNT(employee_id)" } else { "CAST(0 AS BIGINT)" };
        let sql = format!("SELECT COUNT(*), {unmatched} FROM {} WHERE deleted_at IS NULL", entity.table());
        let row = sqlx::query(&sql).fetch_one(&self.pool).await?;
        Ok((row.try_get(0)?, row.try_get::<i64, _>(1)?))
    }
}
