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

/// What resolution decided for one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub found: Option<Resolution>,
    /// Keys of the record that point at another employee (or at two): they
    /// were reported as conflicts, and must not be written onto the chosen
    /// employee, or two employees would share them.
    pub conflicting: Vec<MatchKey>,
}

/// Tries an existing identity link for the account in `system` first, then
/// the connector's match keys in their configured order. A weaker key never
/// overrides the employee number: a candidate found by e-mail or mobile
/// whose 工号 differs from the record's is a conflict, not a match. Every
/// key that points at an employee other than the chosen one, or at two, is
/// reported as a conflict; nothing is merged because of it. `found: None`
/// means the record stays unmatched until the roster brings the person (or
/// the conflict is settled).
pub async fn resolve(
    tx: &mut dyn StoreTx,
    system: &str,
    keys: &IdentityKeys,
    match_keys: &[MatchKey],
) -> Result<Resolved, StoreError> {
    let mut chosen = None;
    if let Some(external_id) = &keys.external_id {
        if let Some(employee_id) = tx.employee_by_link(system, external_id).await? {
            chosen = Some(Resolution {
                employee_id,
                matched_by: "link",
            });
        }
    }
    let mut clashes: Vec<(MatchKey, String, i64)> = Vec::new();
    for &key in match_keys {
        let Some(value) = keys.get(key) else { continue };
        let ids = tx.employees_by_key(key, value).await?;
        match (chosen, ids.as_slice()) {
            (None, [only]) => {
                if key != MatchKey::EmployeeNo && keys.employee_no.is_some() {
                    let theirs = tx.employee_no(*only).await?;
                    if theirs.is_some() && theirs != keys.employee_no {
                        clashes.push((key, value.to_string(), *only));
                        continue;
                    }
                }
                chosen = Some(Resolution {
                    employee_id: *only,
                    matched_by: key.as_str(),
                });
            }
            (_, found) => {
                for id in found {
                    clashes.push((key, value.to_string(), *id));
                }
            }
        }
    }
    // an employee is never in conflict with itself (an ambiguous key may
    // have listed the one a later key chose)
    let chosen_id = chosen.map(|c| c.employee_id);
    clashes.retain(|(_, _, other)| Some(*other) != chosen_id);
    let mut conflicting = Vec::new();
    for (key, value, other) in clashes {
        if !conflicting.contains(&key) {
            conflicting.push(key);
        }
        tx.record_conflict(&IdentityConflict {
            id: 0,
            system: system.to_string(),
            external_id: keys.external_id.clone(),
            key: key.as_str().to_string(),
            value,
            chosen_employee_id: chosen_id,
            other_employee_id: other,
            detected_at: chrono::Utc::now(),
        })
        .await?;
    }
    Ok(Resolved {
        found: chosen,
        conflicting,
    })
}

/// [`resolve`] for many records in one statement, where that gives the
/// same answer: records whose identity is an account id alone. For them a
/// link is all `resolve` would find (there is no other key to match or to
/// check for conflicts). Returns the identities that have a link; the
/// rest are left to [`resolve`].
pub(crate) async fn resolve_by_links<'a>(
    tx: &mut dyn StoreTx,
    system: &str,
    identities: impl IntoIterator<Item = &'a IdentityKeys>,
) -> Result<Vec<(IdentityKeys, Resolution)>, StoreError> {
    let mut accounts: Vec<&str> = identities.into_iter().filter_map(account_only).collect();
    accounts.sort_unstable();
    accounts.dedup();
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let links = tx.employees_by_links(system, &accounts).await?;
    Ok(links
        .into_iter()
        .map(|(external_id, employee_id)| {
            let keys = IdentityKeys {
                external_id: Some(external_id),
                ..IdentityKeys::default()
            };
            let found = Resolution {
                employee_id,
                matched_by: "link",
            };
            (keys, found)
        })
        .collect())
}

/// The account id of identity keys that hold nothing else.
fn account_only(keys: &IdentityKeys) -> Option<&str> {
    match keys {
        IdentityKeys {
            external_id: Some(id),
            employee_no: None,
            email: None,
            mobile: None,
        } => Some(id),
        _ => None,
    }
}
