/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL or settings cannot work.
    #[error("store configuration: {0}")]
    Config(String),
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Schema migration failed; the database may be newer than this binary.
    #[error("cannot migrate the store schema: {0}; is the database used by a newer hrhub?")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A value did not fit the column it was meant for (a bug in a mapping or the model).
    #[error("invalid value for {entity}.{field}: {message}")]
    Value {
        entity: &'static str,
        field: String,
        message: String,
    },
}
