//! Identity resolution: which employee a record is about.

use hrhub_model::{IdentityConflict, IdentityKeys, MatchKey};
use hrhub_store::{StoreError, StoreTx};

/// An employee found for a record, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub employee_id: i64,
    /// `link`, `employee_no`, `email` or `mobile`.
    pub matched_by: &'static str,
}

/// Tries an existing identity link for the account in `system` first, then
/// the connector's match keys in their configured order. Every other key
/// that points at a different employee, and every key shared by two
/// employees, is reported as a conflict; nothing is merged because of it.
/// `None` means the record stays unmatched until the roster brings the
/// person (or a conflict is settled).
pub async fn resolve(
    tx: &mut dyn StoreTx,
    system: &str,
    keys: &IdentityKeys,
    match_keys: &[MatchKey],
) -> Result<Option<Resolution>, StoreError> {
    let mut chosen = None;
    if let Some(external_id) = &keys.external_id {
        if let Some(employee_id) = tx.employee_by_link(system, external_id).await? {
            chosen = Some(Resolution {
                employee_id,
                matched_by: "link",
            });
        }
    }
    let mut conflicts = Vec::new();
    for &key in match_keys {
        let Some(value) = keys.get(key) else { continue };
        let ids = tx.employees_by_key(key, value).await?;
        let others: Vec<i64> = match (chosen, ids.as_slice()) {
            (None, [only]) => {
                chosen = Some(Resolution {
                    employee_id: *only,
                    matched_by: key.as_str(),
                });
                Vec::new()
            }
            (None, ambiguous) => ambiguous.to_vec(),
            (Some(c), found) => found
                .iter()
                .copied()
                .filter(|id| *id != c.employee_id)
                .collect(),
        };
        for other in others {
            conflicts.push((key, value.to_string(), other));
        }
    }
    for (key, value, other) in conflicts {
        tx.record_conflict(&IdentityConflict {
            id: 0,
            system: system.to_string(),
            external_id: keys.external_id.clone(),
            key: key.as_str().to_string(),
            value,
            chosen_employee_id: chosen.map(|c| c.employee_id),
            other_employee_id: other,
            detected_at: chrono::Utc::now(),
        })
        .await?;
    }
    Ok(chosen)
}
