//! Typed CRM and SCM records, so that plugins of one tenant share one vocabulary.
//!
//! The records follow the shape of the objects Salesforce, Vtiger and similar systems expose, kept to the fields
//! steps commonly need. Conventions, the same in every record:
//!
//! - field names are `snake_case`; optional fields are `Option` and left out of the JSON when unset; lists
//!   default to empty when missing;
//! - dates and timestamps are ISO 8601 strings (`2025-03-31`, `2025-03-31T09:30:00Z`), passed through as given;
//! - countries are whatever the source system uses, ISO 3166-1 alpha-2 (`US`, `DE`) recommended;
//! - money is a [`Money`]: an `f64` amount and an ISO 4217 currency code;
//! - quantities are whole units (`i64`, signed so that a wrong negative value reaches the step and can be
//!   reported, rather than failing to decode).
//!
//! Picklist enums ([`LeadSource`], [`CaseStatus`], ...) serialize in `snake_case` and decode leniently: case,
//! spaces and punctuation are ignored (`"Trade Show"`, `"trade-show"` and `"trade_show"` are the same) and a value
//! the enum does not know becomes its `Other` variant instead of failing the whole input.
//!
//! ```
//! use alur_sdk::records::{Lead, LeadSource};
//!
//! let lead: Lead = serde_json::from_str(r#"{"email": "ana@acme.io", "source": "Trade Show"}"#).unwrap();
//! assert_eq!(lead.source, Some(LeadSource::TradeShow));
//! assert_eq!(serde_json::to_string(&lead.source).unwrap(), r#""trade_show""#);
//! ```

/// Gives a picklist enum its lenient decoding (see the module docs): each variant lists the normalized spellings
/// it accepts, and anything else becomes `Other`.
macro_rules! lenient_enum {
    ($ty:ident { $($variant:ident => [$($name:literal),+ $(,)?]),+ $(,)? }) => {
        impl From<String> for $ty {
            fn from(raw: String) -> Self {
                match $crate::records::normalize(&raw).as_str() {
                    $($($name)|+ => $ty::$variant,)+
                    _ => $ty::Other,
                }
            }
        }
    };
}

pub mod crm;
pub mod scm;

pub use crm::{
    Account, Case, CasePriority, CaseStatus, Contact, Lead, LeadSource, LeadStatus, Opportunity, OpportunityStage,
    Quote, QuoteLine,
};
pub use scm::{
    Address, InventoryItem, Money, Order, OrderLine, OrderStatus, PurchaseOrder, PurchaseOrderLine,
    PurchaseOrderStatus, Shipment, ShipmentStatus,
};

/// Folds a picklist value to `snake_case` words: `"Closed - Won"` and `"closed-won"` both become `closed_won`.
fn normalize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.trim().chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalize_folds_case_spaces_and_punctuation() {
        assert_eq!(normalize("Trade Show"), "trade_show");
        assert_eq!(normalize("  Closed - Won "), "closed_won");
        assert_eq!(normalize("Proposal/Price Quote"), "proposal_price_quote");
        assert_eq!(normalize("Id. Decision Makers"), "id_decision_makers");
        assert_eq!(normalize("web"), "web");
        assert_eq!(normalize("--"), "");
    }
}
