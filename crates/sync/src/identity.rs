//! Identity resolution: which employee a record is about.

use hrhub_model::IdentityKeys;
use hrhub_store::{MatchKey, StoreError, StoreTx};

/// An employee found for a record, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub employee_id: i64,
    /// `link`, `employee_no`, `email` or `mobile`.
    pub matched_by: &'static str,
}

/// Tries an existing identity link for the account in `system` first, then
/// the configured match keys in order of strength: employee number, e-mail,
/// mobile. `None` means the record stays unmatched until the roster brings
/// the person.
pub async fn resolve(
    tx: &mut dyn StoreTx,
    system: &str,
    keys: &IdentityKeys,
) -> Result<Option<Resolution>, StoreError> {
    if let Some(external_id) = &keys.external_id {
        if let Some(employee_id) = tx.employee_by_link(system, external_id).await? {
            return Ok(Some(Resolution {
                employee_id,
                matched_by: "link",
            }));
        }
    }
    for (key, value, name) in [
        (MatchKey::EmployeeNo, &keys.employee_no, "employee_no"),
        (MatchKey::Email, &keys.email, "email"),
        (MatchKey::Mobile, &keys.mobile, "mobile"),
    ] {
        if let Some(value) = value {
            if let Some(employee_id) = tx.employee_by_key(key, value).await? {
                return Ok(Some(Resolution {
                    employee_id,
                    matched_by: name,
                }));
            }
        }
    }
    Ok(None)
}
