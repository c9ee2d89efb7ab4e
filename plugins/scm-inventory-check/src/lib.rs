//! # scm-inventory-check: check whether the stock covers a sales order
//!
//! For each order line the step works out how many units can be allocated from the stock, then says whether the
//! order ships complete, has to be split, or waits for stock entirely. It only reads stock; it reserves nothing.
//!
//! Lines are allocated in order. Lines with the same SKU draw from the same stock, so a SKU's units are never
//! counted twice: a later line sees what the earlier lines left. A SKU the stock table does not know has 0
//! units, and a negative stock level counts as 0.
//!
//! ## Input
//!
//! `{"order": Order}`, an [`Order`] record; each line needs a non-blank `sku` and a positive `quantity`.
//!
//! ```json
//! {"order": {"id": "SO-1001", "lines": [{"sku": "WID-1", "quantity": 4}, {"sku": "GAD-2", "quantity": 1}]}}
//! ```
//!
//! ## Config
//!
//! | key     | default | meaning                                                                                   |
//! |---------|---------|-------------------------------------------------------------------------------------------|
//! | `stock` | none    | JSON object from SKU to available units, e.g. `{"WID-1": 10, "GAD-2": 0}`; a value may also be an [`InventoryItem`] object, whose `on_hand - reserved` counts |
//!
//! Without `stock`, the step reads the plugin's key-value state instead: key `stock/<sku>` holding either a
//! number of available units or an [`InventoryItem`] as JSON. With `stock` set, the key-value state is not read.
//!
//! ## Output
//!
//! ```json
//! {"lines": [{"sku": "WID-1", "ordered": 4, "available": 10, "allocatable": 4, "status": "available"},
//!            {"sku": "GAD-2", "ordered": 1, "available": 0, "allocatable": 0, "status": "backorder"}],
//!  "can_ship_complete": false,
//!  "fulfilment": "split"}
//! ```
//!
//! One entry per order line, in order. `available` is what the stock held for the line's SKU when the line was
//! allocated; `allocatable` is `min(ordered, available)`. A line's `status` is `available` (fully allocatable),
//! `partial` or `backorder` (nothing allocatable). `fulfilment` is `complete` when every line is available,
//! `backorder` when no line can be allocated at all, and `split` otherwise; `can_ship_complete` is
//! `fulfilment == "complete"`.
//!
//! ## Errors
//!
//! `invalid_input` with code `empty-order` (no lines), `missing-sku` (a blank SKU), `invalid-quantity` (a
//! quantity of 0 or less) or `invalid-input` (the JSON does not fit). A `stock` config that is not the expected
//! JSON is an `invalid-config` internal error; a `stock/<sku>` value that is not is an `invalid-state` one.

use alur_sdk::records::scm::{InventoryItem, Order};
use alur_sdk::{Context, Step, StepError, config, kv, log};
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

/// The step's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The order to check.
    pub order: Order,
}

/// One SKU's stock, as the config table or the key-value state holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StockEntry {
    /// Units available.
    Units(i64),
    /// A full inventory record.
    Item(InventoryItem),
}

impl StockEntry {
    /// Units free to allocate, never below zero.
    pub fn available(&self) -> i64 {
        match self {
            StockEntry::Units(units) => (*units).max(0),
            StockEntry::Item(item) => item.available(),
        }
    }
}

/// Where the stock levels come from.
#[derive(Debug, Clone, PartialEq)]
pub enum StockSource {
    /// The `stock` config table.
    Config(BTreeMap<String, StockEntry>),
    /// The `stock/<sku>` keys of the plugin's key-value state.
    Kv,
}

impl StockSource {
    /// The config table when the definition sets `stock`, else the key-value state.
    pub fn from_config() -> Result<Self, StepError> {
        Ok(match config::json::<BTreeMap<String, StockEntry>>("stock")? {
            Some(table) => StockSource::Config(table),
            None => StockSource::Kv,
        })
    }

    /// Units available for `sku`; 0 for an unknown SKU.
    pub fn available(&self, sku: &str) -> Result<i64, StepError> {
        let entry = match self {
            StockSource::Config(table) => table.get(sku).cloned(),
            StockSource::Kv => kv::get::<StockEntry>(&format!("stock/{sku}"))?,
        };
        Ok(entry.map_or(0, |e| e.available()))
    }
}

/// How much of one order line the stock covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// All of it.
    Available,
    /// Some of it.
    Partial,
    /// None of it.
    Backorder,
}

/// How the order as a whole can be fulfilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fulfilment {
    /// Every line ships now.
    Complete,
    /// Some units ship now, the rest later.
    Split,
    /// Nothing ships until stock arrives.
    Backorder,
}

/// The check of one order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCheck {
    /// The line's SKU.
    pub sku: String,
    /// Units ordered.
    pub ordered: i64,
    /// Units of the SKU still in stock when this line was allocated.
    pub available: i64,
    /// Units of this line the stock covers.
    pub allocatable: i64,
    /// Whether the line is fully, partly or not covered.
    pub status: LineStatus,
}

/// The step's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// One check per order line, in order.
    pub lines: Vec<LineCheck>,
    /// Whether every line is fully covered.
    pub can_ship_complete: bool,
    /// How the order can be fulfilled.
    pub fulfilment: Fulfilment,
}

fn validate(order: &Order) -> Result<(), StepError> {
    if order.lines.is_empty() {
        return Err(StepError::invalid_input("empty-order", format!("order {} has no lines", order.id)));
    }
    for (index, line) in order.lines.iter().enumerate() {
        let number = index + 1;
        if line.sku.trim().is_empty() {
            return Err(StepError::invalid_input(
                "missing-sku",
                format!("line {number} of order {} has no sku", order.id),
            ));
        }
        if line.quantity <= 0 {
            return Err(StepError::invalid_input(
                "invalid-quantity",
                format!(
                    "line {number} (sku {}) of order {} has quantity {}; it must be positive",
                    line.sku, order.id, line.quantity
                ),
            ));
        }
    }
    Ok(())
}

/// Checks `order` against `stock`.
pub fn check(order: &Order, stock: &StockSource) -> Result<Output, StepError> {
    // Validating every line first keeps a bad order from costing stock reads.
    validate(order)?;
    let mut remaining: HashMap<&str, i64> = HashMap::new();
    let mut lines = Vec::with_capacity(order.lines.len());
    for line in &order.lines {
        let left = match remaining.entry(line.sku.as_str()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(stock.available(&line.sku)?),
        };
        let available = *left;
        let allocatable = line.quantity.min(available);
        *left -= allocatable;
        let status = if allocatable == line.quantity {
            LineStatus::Available
        } else if allocatable > 0 {
            LineStatus::Partial
        } else {
            LineStatus::Backorder
        };
        lines.push(LineCheck { sku: line.sku.clone(), ordered: line.quantity, available, allocatable, status });
    }
    let fulfilment = if lines.iter().all(|l| l.status == LineStatus::Available) {
        Fulfilment::Complete
    } else if lines.iter().all(|l| l.status == LineStatus::Backorder) {
        Fulfilment::Backorder
    } else {
        Fulfilment::Split
    };
    Ok(Output { lines, can_ship_complete: fulfilment == Fulfilment::Complete, fulfilment })
}

/// The inventory-check step.
pub struct InventoryCheck;

impl Step for InventoryCheck {
    type Input = Input;
    type Output = Output;

    fn run(_ctx: &Context, input: Input) -> Result<Output, StepError> {
        let stock = StockSource::from_config()?;
        let output = check(&input.order, &stock)?;
        let covered = output.lines.iter().filter(|l| l.status == LineStatus::Available).count();
        log::debug(&format!(
            "order {}: {covered} of {} lines covered, fulfilment {:?}",
            input.order.id,
            output.lines.len(),
            output.fulfilment
        ));
        Ok(output)
    }
}

alur_sdk::export_step!(InventoryCheck);

#[cfg(test)]
mod tests {
    use super::*;
    use alur_sdk::ErrorKind;
    use alur_sdk::testing::{reset, set_config};
    use serde_json::json;

    fn run(lines: serde_json::Value) -> Result<Output, StepError> {
        let input: Input = serde_json::from_value(json!({"order": {"id": "SO-1", "lines": lines}})).unwrap();
        InventoryCheck::run(&Context::for_test("inventory"), input)
    }

    fn line(sku: &str, ordered: i64, available: i64, allocatable: i64, status: LineStatus) -> LineCheck {
        LineCheck { sku: sku.into(), ordered, available, allocatable, status }
    }

    #[test]
    fn fully_stocked_order_ships_complete() {
        reset();
        set_config("stock", r#"{"WID-1": 10, "GAD-2": 1}"#);
        let out = run(json!([{"sku": "WID-1", "quantity": 4}, {"sku": "GAD-2", "quantity": 1}])).unwrap();
        assert_eq!(
            out.lines,
            vec![line("WID-1", 4, 10, 4, LineStatus::Available), line("GAD-2", 1, 1, 1, LineStatus::Available)]
        );
        assert!(out.can_ship_complete);
        assert_eq!(out.fulfilment, Fulfilment::Complete);
    }

    #[test]
    fn partly_stocked_order_is_split() {
        reset();
        set_config("stock", r#"{"WID-1": 10, "GAD-2": 2}"#);
        let out = run(json!([{"sku": "WID-1", "quantity": 4}, {"sku": "GAD-2", "quantity": 5}])).unwrap();
        assert_eq!(out.lines[1], line("GAD-2", 5, 2, 2, LineStatus::Partial));
        assert!(!out.can_ship_complete);
        assert_eq!(out.fulfilment, Fulfilment::Split);

        // One fully covered line and one not covered at all is a split too.
        set_config("stock", r#"{"WID-1": 10}"#);
        let out = run(json!([{"sku": "WID-1", "quantity": 4}, {"sku": "GAD-2", "quantity": 5}])).unwrap();
        assert_eq!(out.lines[1].status, LineStatus::Backorder);
        assert_eq!(out.fulfilment, Fulfilment::Split);
    }

    #[test]
    fn order_without_any_stock_is_backordered() {
        reset();
        set_config("stock", r#"{"WID-1": 0, "GAD-2": -3}"#);
        let out = run(json!([{"sku": "WID-1", "quantity": 4}, {"sku": "GAD-2", "quantity": 1}])).unwrap();
        assert_eq!(
            out.lines,
            vec![line("WID-1", 4, 0, 0, LineStatus::Backorder), line("GAD-2", 1, 0, 0, LineStatus::Backorder)]
        );
        assert!(!out.can_ship_complete);
        assert_eq!(out.fulfilment, Fulfilment::Backorder);
    }

    #[test]
    fn unknown_sku_is_backordered_with_nothing_available() {
        reset();
        set_config("stock", r#"{"WID-1": 10}"#);
        let out = run(json!([{"sku": "NOPE-9", "quantity": 2}])).unwrap();
        assert_eq!(out.lines, vec![line("NOPE-9", 2, 0, 0, LineStatus::Backorder)]);
        assert_eq!(out.fulfilment, Fulfilment::Backorder);
    }

    #[test]
    fn duplicate_skus_share_one_stock() {
        reset();
        set_config("stock", r#"{"WID-1": 5}"#);
        let out = run(json!([
            {"sku": "WID-1", "quantity": 3},
            {"sku": "WID-1", "quantity": 4},
            {"sku": "WID-1", "quantity": 1}
        ]))
        .unwrap();
        assert_eq!(
            out.lines,
            vec![
                line("WID-1", 3, 5, 3, LineStatus::Available),
                line("WID-1", 4, 2, 2, LineStatus::Partial),
                line("WID-1", 1, 0, 0, LineStatus::Backorder),
            ]
        );
        assert_eq!(out.fulfilment, Fulfilment::Split);
    }

    #[test]
    fn stock_comes_from_kv_without_config() {
        reset();
        kv::set("stock/WID-1", &7).unwrap();
        kv::set("stock/GAD-2", &json!({"sku": "GAD-2", "warehouse": "BER", "on_hand": 10, "reserved": 8})).unwrap();
        let out = run(json!([
            {"sku": "WID-1", "quantity": 7},
            {"sku": "GAD-2", "quantity": 3},
            {"sku": "NOPE-9", "quantity": 1}
        ]))
        .unwrap();
        assert_eq!(
            out.lines,
            vec![
                line("WID-1", 7, 7, 7, LineStatus::Available),
                line("GAD-2", 3, 2, 2, LineStatus::Partial),
                line("NOPE-9", 1, 0, 0, LineStatus::Backorder),
            ]
        );
        assert_eq!(out.fulfilment, Fulfilment::Split);
    }

    #[test]
    fn duplicate_skus_share_kv_stock() {
        reset();
        kv::set("stock/WID-1", &4).unwrap();
        let out = run(json!([{"sku": "WID-1", "quantity": 3}, {"sku": "WID-1", "quantity": 3}])).unwrap();
        assert_eq!(out.lines[1], line("WID-1", 3, 1, 1, LineStatus::Partial));
    }

    #[test]
    fn config_stock_takes_precedence_over_kv() {
        reset();
        kv::set("stock/WID-1", &100).unwrap();
        set_config("stock", "{}");
        let out = run(json!([{"sku": "WID-1", "quantity": 1}])).unwrap();
        assert_eq!(out.fulfilment, Fulfilment::Backorder);
    }

    #[test]
    fn config_stock_may_hold_inventory_items() {
        reset();
        set_config("stock", r#"{"WID-1": {"sku": "WID-1", "on_hand": 6, "reserved": 1}}"#);
        let out = run(json!([{"sku": "WID-1", "quantity": 5}])).unwrap();
        assert_eq!(out.lines, vec![line("WID-1", 5, 5, 5, LineStatus::Available)]);
    }

    #[test]
    fn bad_orders_are_invalid_input() {
        reset();
        set_config("stock", r#"{"WID-1": 10}"#);
        for (lines, code) in [
            (json!([]), "empty-order"),
            (json!([{"sku": "WID-1", "quantity": 0}]), "invalid-quantity"),
            (json!([{"sku": "WID-1", "quantity": 1}, {"sku": "WID-1", "quantity": -2}]), "invalid-quantity"),
            (json!([{"sku": "  ", "quantity": 1}]), "missing-sku"),
        ] {
            let err = run(lines.clone()).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::InvalidInput, code), "{lines}");
        }

        let ctx = Context::for_test("inventory");
        for input in [
            r#"{"order": {"id": "SO-1"}}"#,
            r#"{"order": {"id": "SO-1", "lines": [{"sku": "WID-1"}]}}"#,
            r#"{"order": {"id": "SO-1", "lines": [{"sku": "WID-1", "quantity": 1.5}]}}"#,
            "{}",
        ] {
            let err = alur_sdk::__private::run_json::<InventoryCheck>(&ctx, input).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput, "{input}");
        }
    }

    #[test]
    fn malformed_stock_is_an_internal_error() {
        reset();
        set_config("stock", r#"{"WID-1": "lots"}"#);
        let err = run(json!([{"sku": "WID-1", "quantity": 1}])).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-config"));

        reset();
        kv::set("stock/WID-1", &"lots").unwrap();
        let err = run(json!([{"sku": "WID-1", "quantity": 1}])).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-state"));
    }

    #[test]
    fn output_json_shape() {
        reset();
        set_config("stock", r#"{"WID-1": 10}"#);
        let ctx = Context::for_test("inventory");
        let input = json!({"order": {"id": "SO-1", "lines": [{"sku": "WID-1", "quantity": 4}, {"sku": "GAD-2", "quantity": 1}]}});
        let out = alur_sdk::__private::run_json::<InventoryCheck>(&ctx, &input.to_string()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            value,
            json!({
                "lines": [
                    {"sku": "WID-1", "ordered": 4, "available": 10, "allocatable": 4, "status": "available"},
                    {"sku": "GAD-2", "ordered": 1, "available": 0, "allocatable": 0, "status": "backorder"}
                ],
                "can_ship_complete": false,
                "fulfilment": "split"
            })
        );
    }
}
