//! Customers, and the audit of changes made to them.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub consultant_id: Option<i64>,
    /// The secret code of the customer's archive address: email sent to it lands in the timeline.
    pub archive_code: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

/// A value before or after a change, as the timeline records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeValue {
    Null,
    Text(String),
    Id(i64),
    Flag(bool),
}

impl From<Option<String>> for ChangeValue {
    fn from(v: Option<String>) -> Self {
        v.map_or(ChangeValue::Null, ChangeValue::Text)
    }
}

impl From<Option<i64>> for ChangeValue {
    fn from(v: Option<i64>) -> Self {
        v.map_or(ChangeValue::Null, ChangeValue::Id)
    }
}

/// One field that changed, with its old and new value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: ChangeValue,
    pub new: ChangeValue,
}

/// What a PATCH asks to change: `None` leaves a field alone; `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub consultant_id: Option<Option<i64>>,
}

impl Customer {
    /// Applies `patch` and returns the fields that really changed, in a fixed order.
    /// Setting a field to the value it has is not a change.
    pub fn apply(&mut self, patch: CustomerPatch) -> Vec<FieldChange> {
        let mut changes = Vec::new();
        track(&mut changes, "name", &mut self.name, patch.name);
        track(&mut changes, "email", &mut self.email, patch.email);
        track(&mut changes, "phone", &mut self.phone, patch.phone);
        track(
            &mut changes,
            "consultant_id",
            &mut self.consultant_id,
            patch.consultant_id,
        );
        changes
    }
}

/// Sets `slot` to `new` when given and different, recording the change.
pub fn track<T>(changes: &mut Vec<FieldChange>, field: &'static str, slot: &mut T, new: Option<T>)
where
    T: PartialEq + Clone + Into<ChangeValue>,
{
    if let Some(new) = new
        && new != *slot
    {
        let old = std::mem::replace(slot, new.clone());
        changes.push(FieldChange {
            field,
            old: old.into(),
            new: new.into(),
        });
    }
}

impl From<i64> for ChangeValue {
    fn from(v: i64) -> Self {
        ChangeValue::Id(v)
    }
}

impl From<String> for ChangeValue {
    fn from(v: String) -> Self {
        ChangeValue::Text(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer() -> Customer {
        Customer {
            id: 1,
            name: "Blanca".into(),
            email: None,
            phone: Some("600 000 000".into()),
            consultant_id: Some(2),
            archive_code: "code".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn patch_reports_only_real_changes() {
        let mut c = customer();
        let changes = c.apply(CustomerPatch {
            name: Some("Blanca".into()),
            email: Some(Some("blanca@example.com".into())),
            phone: Some(None),
            consultant_id: Some(Some(2)),
        });
        assert_eq!(
            changes,
            vec![
                FieldChange {
                    field: "email",
                    old: ChangeValue::Null,
                    new: ChangeValue::Text("blanca@example.com".into())
                },
                FieldChange {
                    field: "phone",
                    old: ChangeValue::Text("600 000 000".into()),
                    new: ChangeValue::Null
                },
            ]
        );
        assert_eq!(c.email.as_deref(), Some("blanca@example.com"));
        assert_eq!(c.phone, None);
    }

    #[test]
    fn empty_patch_changes_nothing() {
        let mut c = customer();
        assert!(c.apply(CustomerPatch::default()).is_empty());
        assert_eq!(c, customer_with_same_times(&c));
    }

    fn customer_with_same_times(c: &Customer) -> Customer {
        Customer {
            created_at: c.created_at,
            updated_at: c.updated_at,
            ..customer()
        }
    }

    #[test]
    fn consultant_changes_carry_ids() {
        let mut c = customer();
        let changes = c.apply(CustomerPatch {
            name: Some("Blanca Ruiz".into()),
            consultant_id: Some(Some(5)),
            ..Default::default()
        });
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].field, "name");
        assert_eq!(changes[1].old, ChangeValue::Id(2));
        assert_eq!(changes[1].new, ChangeValue::Id(5));
    }
}
