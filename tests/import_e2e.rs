//! `hrhub import` through the real binary: a GBK CSV, a UTF-8 CSV and an
//! XLSX workbook land the same training results; a file with two malformed
//! rows imports the rest and quarantines those two with their row numbers;
//! importing again changes nothing.

mod common;

use common::*;
use hrhub_model::EntityKind;
use hrhub_store::Store;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/crates/fileimport/tests/fixtures"
);

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("hrhub.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[[connector]]\nid = \"exports\"\nkind = \"file\"\n",
            dir.join("hrhub.db").display()
        ),
    )
    .unwrap();
    path
}

async fn import(config: &std::path::Path, file: &str) -> String {
    let out = hrhub(
        config,
        &[
            "import",
            "--connector",
            "exports",
            &format!("{FIXTURES}/{file}"),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbk_and_utf8_exports_import_alike_and_reimports_change_nothing() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (utf8, gbk) = (config(a.path()), config(b.path()));
    let out = import(&utf8, "training_utf8.csv").await;
    assert!(out.contains("upserted 4"), "{out}");
    let out = import(&gbk, "training_gbk.csv").await;
    assert!(out.contains("GBK") || out.contains("gbk"), "{out}");
    let (sa, sb) = (open_store(a.path()).await, open_store(b.path()).await);
    let (ra, rb) = (
        sa.entity_rows(EntityKind::TrainingResult, 0, 100)
            .await
            .unwrap(),
        sb.entity_rows(EntityKind::TrainingResult, 0, 100)
            .await
            .unwrap(),
    );
    assert_eq!(ra.len(), 4);
    for (x, y) in ra.iter().zip(&rb) {
        for field in [
            "course_id",
            "course_name",
            "completed_at",
            "score",
            "passed",
        ] {
            assert_eq!(x[field], y[field], "{field}");
        }
    }
    let first = &ra[0];
    assert_eq!(first["course_id"], "SEC-101");
    assert_eq!(
        first["completed_at"], "2024-05-02T01:12:44Z",
        "local Asia/Shanghai time stored as UTC"
    );
    assert_eq!(first["score"], 92.0);
    assert_eq!(first["passed"], true);

    let changes = change_log_len(&sa).await;
    let out = import(&utf8, "training_utf8.csv").await;
    assert!(
        out.contains("unchanged 4") && out.contains("upserted 0"),
        "{out}"
    );
    assert_eq!(
        change_log_len(&sa).await,
        changes,
        "re-import changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xlsx_export_lands_like_the_csv_and_reimporting_changes_nothing() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (csv, xlsx) = (config(a.path()), config(b.path()));
    import(&csv, "training_utf8.csv").await;
    let out = import(&xlsx, "training.xlsx").await;
    assert!(
        out.contains("Spreadsheet") && out.contains("upserted 4"),
        "{out}"
    );
    let (sa, sb) = (open_store(a.path()).await, open_store(b.path()).await);
    let rows = snapshot(&sb).await;
    assert_eq!(rows, snapshot(&sa).await, "the same rows, keys and values");
    assert_eq!(
        rows.iter()
            .find(|(kind, _)| *kind == EntityKind::TrainingResult)
            .map(|(_, r)| r.len()),
        Some(4)
    );

    let changes = change_log_len(&sb).await;
    let out = import(&xlsx, "training.xlsx").await;
    assert!(
        out.contains("unchanged 4") && out.contains("upserted 0"),
        "{out}"
    );
    assert_eq!(
        change_log_len(&sb).await,
        changes,
        "re-import changes nothing"
    );
    assert_eq!(snapshot(&sb).await, rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_rows_are_quarantined_with_their_row_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let out = import(&config, "training_malformed.csv").await;
    assert!(out.contains("quarantined 2"), "{out}");
    let store = open_store(dir.path()).await;
    let q = store.quarantined(Some("exports"), 10).await.unwrap();
    assert_eq!(q.len(), 2);
    let mut rows: Vec<&str> = q
        .iter()
        .map(|e| e.reason.split(':').next().unwrap())
        .collect();
    rows.sort();
    assert_eq!(rows, ["row 4", "row 6"]);
    let good = store
        .entity_counts(EntityKind::TrainingResult)
        .await
        .unwrap()
        .0;
    assert_eq!(good, 4, "the readable rows land");
    let changes = change_log_len(&store).await;
    let out = import(&config, "training_malformed.csv").await;
    assert!(out.contains("upserted 0"), "{out}");
    assert_eq!(
        store.quarantined(Some("exports"), 10).await.unwrap().len(),
        2,
        "still the same two"
    );
    assert_eq!(change_log_len(&store).await, changes);
    // a file row that never landed is not re-mapped by replay
    let out = hrhub(&config, &["replay", "--connector", "exports"]).await;
    assert!(
        stdout(&out).contains("nothing to replay"),
        "{}",
        stdout(&out)
    );
}
