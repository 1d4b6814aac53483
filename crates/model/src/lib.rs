//! The unified employee-performance model: the entities every connector fills,
//! the raw records connectors yield, and the change log readers follow.
//!
//! No I/O lives here. Each entity has a typed struct (what readers get back)
//! and a field schema ([`EntityKind::fields`]) that mapping files are checked
//! against and that the store builds its upserts from; a unit test keeps the
//! two in step.

mod entities;
mod identity;
mod mapped;
mod performance;
mod raw;
mod schema;
mod sync;

pub use entities::*;
pub use identity::*;
pub use mapped::*;
pub use performance::*;
pub use raw::*;
pub use schema::*;
pub use sync::*;
