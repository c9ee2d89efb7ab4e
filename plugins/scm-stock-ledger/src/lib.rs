//! # scm-stock-ledger: reserve and release stock for sales orders
//!
//! A stock ledger in the plugin's key-value state: per SKU the units on hand and the units reserved for orders,
//! and per order the reservation it holds. Reserving takes what is available now and reports the rest as
//! short; releasing gives a reservation back. Both are keyed by order id, so that a retried or replayed step
//! cannot reserve twice or release twice: that is what makes `release` safe as the compensation (`undo`) of
//! `reserve`.
//!
//! ## Input
//!
//! The mode comes from the `mode` config key, or else from the input's `mode`. A definition that fixes the mode
//! in config can pass any input, such as the output of the step being undone (which says `"mode": "reserve"`).
//!
//! | mode      | input                                                         | does                                          |
//! |-----------|---------------------------------------------------------------|-----------------------------------------------|
//! | `reserve` | `{"order": Order}`                                            | reserves each line's quantity, as far as stock goes |
//! | `release` | `{"order_id": "SO-1"}` (or `{"order": {"id": ...}}`)          | releases the order's reservation; a no-op when there is none or it was released |
//! | `adjust`  | `{"adjustments": [{"sku": "WID-1", "delta": 25}]}`            | books goods in (`delta > 0`) or out (`< 0`) of on-hand stock |
//! | `levels`  | `{"skus": ["WID-1"]}`                                         | reads stock levels; writes nothing            |
//!
//! Lines are reserved in order; lines with the same SKU draw from the same stock. A second `reserve` for an
//! order whose reservation is active returns that reservation unchanged (`"replayed": true`) and reserves
//! nothing; if it asks for different lines it is refused with `reservation-conflict`. After a release, the
//! order may reserve again.
//!
//! ## Config
//!
//! | key     | default | meaning                                                                                     |
//! |---------|---------|---------------------------------------------------------------------------------------------|
//! | `mode`  | none    | the mode when the input has none                                                            |
//! | `stock` | none    | JSON object from SKU to its initial on-hand units (or an [`InventoryItem`]), read the first time the ledger meets a SKU; an unknown SKU starts at 0 |
//!
//! ## State
//!
//! `stock/<sku>`: an [`InventoryItem`] (`on_hand`, `reserved`). `reservation/<order id>`: a [`Reservation`].
//!
//! ## Output
//!
//! `reserve`:
//! ```json
//! {"mode": "reserve", "order_id": "SO-1", "fulfilment": "split", "reserved_units": 6, "short_units": 2,
//!  "replayed": false,
//!  "lines": [{"sku": "WID-1", "requested": 4, "reserved": 4, "short": 0, "status": "reserved"},
//!            {"sku": "GAD-2", "requested": 4, "reserved": 2, "short": 2, "status": "partial"}]}
//! ```
//! `fulfilment` is `complete` (every unit reserved), `backorder` (none) or `split`. A line's `status` is
//! `reserved`, `partial` or `short`.
//!
//! `release`: `{"mode": "release", "order_id": "SO-1", "released": true, "lines": [{"sku": "WID-1", "quantity": 4}]}`,
//! or `"released": false` with `"reason": "no-reservation" | "already-released"`.
//!
//! `adjust` and `levels`: `{"mode": ..., "levels": [{"sku": "WID-1", "on_hand": 10, "reserved": 4, "available": 6}]}`.
//!
//! ## Concurrency
//!
//! Each call reads a SKU's record, changes it and writes it back, and the engine commits the write with the
//! step's completion. The runtime does not (yet) serialize or version concurrent steps of one plugin's kv
//! scope, so two instances reserving the same SKU at the same moment can both read the old record and the
//! later commit wins: reservations are only exact while reserves of one SKU run one at a time.
//!
//! ## Errors
//!
//! - `invalid_input`: `missing-mode`, `missing-order` (reserve without an order, release without an order id),
//!   `empty-order`, `missing-sku`, `invalid-quantity`, `invalid-id` (an id or SKU over 256 bytes: they become kv
//!   keys), `too-many-lines` (over 1000), `invalid-input` (the JSON does not fit, or an unknown mode).
//! - `business` `reservation-conflict`: the order already holds an active reservation for other lines.
//! - `business` `below-reserved`: an adjustment would leave fewer units on hand than are reserved.
//! - `internal` `invalid-config` / `invalid-state`: a `stock` config or a stored value of the wrong shape.

use alur_sdk::records::scm::{InventoryItem, Order};
use alur_sdk::{Context, Step, StepError, config, kv, log};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest order id or SKU: each becomes part of a kv key, and the host limits keys to 512 bytes.
pub const MAX_KEY_PART: usize = 256;
/// Most lines, adjustments or SKUs in one call, which keeps a reservation far below the 1 MiB value limit.
pub const MAX_ITEMS: usize = 1000;

/// What the step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Reserve an order's lines.
    Reserve,
    /// Release an order's reservation.
    Release,
    /// Book stock in or out.
    Adjust,
    /// Read stock levels.
    Levels,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.trim().to_string()))
            .map_err(|_| format!("unknown mode `{s}` (expected reserve, release, adjust or levels)"))
    }
}

/// The step's input; which fields are needed depends on the mode.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Input {
    /// The mode, unless the `mode` config key sets it.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// The order to reserve (or whose id to release).
    #[serde(default)]
    pub order: Option<Order>,
    /// The order whose reservation to release.
    #[serde(default)]
    pub order_id: Option<String>,
    /// Stock movements for `adjust`.
    #[serde(default)]
    pub adjustments: Vec<Adjustment>,
    /// SKUs for `levels`.
    #[serde(default)]
    pub skus: Vec<String>,
}

/// A stock movement: goods received (`delta > 0`) or written off (`delta < 0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    /// The SKU.
    pub sku: String,
    /// Units added to on-hand stock (negative to remove).
    pub delta: i64,
}

/// Whether a reservation still holds stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// It holds its units.
    Active,
    /// Its units went back to stock; kept so that a second release is recognised as one.
    Released,
}

/// How much of a line is reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// All of it.
    Reserved,
    /// Some of it.
    Partial,
    /// None of it.
    Short,
}

/// One reserved order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedLine {
    /// The SKU.
    pub sku: String,
    /// The order line's id, when the order gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_id: Option<String>,
    /// Units ordered.
    pub requested: i64,
    /// Units reserved.
    pub reserved: i64,
    /// Units not available.
    pub short: i64,
    /// Fully, partly or not reserved.
    pub status: LineStatus,
}

/// How the order as a whole is covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fulfilment {
    /// Every unit is reserved.
    Complete,
    /// Some units are reserved.
    Split,
    /// No unit is reserved.
    Backorder,
}

/// An order's reservation, as stored under `reservation/<order id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The order.
    pub order_id: String,
    /// Active or released.
    pub status: ReservationStatus,
    /// Its lines.
    pub lines: Vec<ReservedLine>,
}

/// Stock of one SKU as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// The SKU.
    pub sku: String,
    /// Units in the warehouse.
    pub on_hand: i64,
    /// Units promised to orders.
    pub reserved: i64,
    /// Units free to reserve.
    pub available: i64,
}

/// A unit count released back to stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    /// The SKU.
    pub sku: String,
    /// Units released.
    pub quantity: i64,
}

/// The step's output, one shape per mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Output {
    /// The reservation made (or found).
    Reserve {
        /// The order.
        order_id: String,
        /// How the order is covered.
        fulfilment: Fulfilment,
        /// Units reserved in all.
        reserved_units: i64,
        /// Units short in all.
        short_units: i64,
        /// Whether the reservation already existed (a retried or repeated reserve).
        replayed: bool,
        /// One entry per order line, in order.
        lines: Vec<ReservedLine>,
    },
    /// What was released.
    Release {
        /// The order.
        order_id: String,
        /// Whether this call gave stock back.
        released: bool,
        /// Why nothing was released.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Units given back per line.
        lines: Vec<Released>,
    },
    /// Levels after the adjustment.
    Adjust {
        /// One per adjusted SKU, in first-mention order.
        levels: Vec<Level>,
    },
    /// Current levels.
    Levels {
        /// One per SKU asked for.
        levels: Vec<Level>,
    },
}

/// One SKU's initial stock in the `stock` config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Seed {
    Units(i64),
    Item(InventoryItem),
}

/// The stock items touched by one call, written back at its end. Reads go through it so that lines with the
/// same SKU see each other's reservations.
struct Ledger {
    seeds: Option<BTreeMap<String, Seed>>,
    items: BTreeMap<String, InventoryItem>,
    dirty: Vec<String>,
}

fn stock_key(sku: &str) -> String {
    format!("stock/{sku}")
}

fn reservation_key(order_id: &str) -> String {
    format!("reservation/{order_id}")
}

impl Ledger {
    fn open() -> Result<Self, StepError> {
        Ok(Ledger { seeds: config::json("stock")?, items: BTreeMap::new(), dirty: Vec::new() })
    }

    fn item(&mut self, sku: &str) -> Result<&mut InventoryItem, StepError> {
        if !self.items.contains_key(sku) {
            let item = match kv::get::<InventoryItem>(&stock_key(sku))? {
                Some(item) => item,
                None => {
                    let on_hand = match self.seeds.as_ref().and_then(|s| s.get(sku)) {
                        Some(Seed::Units(n)) => *n,
                        Some(Seed::Item(item)) => item.on_hand,
                        None => 0,
                    };
                    let reserved = match self.seeds.as_ref().and_then(|s| s.get(sku)) {
                        Some(Seed::Item(item)) => item.reserved.unwrap_or(0),
                        _ => 0,
                    };
                    InventoryItem {
                        sku: sku.to_string(),
                        name: None,
                        warehouse: None,
                        on_hand,
                        reserved: Some(reserved),
                        reorder_point: None,
                        unit_cost: None,
                        updated_at: None,
                    }
                }
            };
            self.items.insert(sku.to_string(), item);
        }
        self.items.get_mut(sku).ok_or_else(|| StepError::internal("ledger", "stock item vanished"))
    }

    fn touch(&mut self, sku: &str) {
        if !self.dirty.iter().any(|s| s == sku) {
            self.dirty.push(sku.to_string());
        }
    }

    fn level(&mut self, sku: &str) -> Result<Level, StepError> {
        let item = self.item(sku)?;
        let reserved = item.reserved.unwrap_or(0);
        Ok(Level { sku: sku.to_string(), on_hand: item.on_hand, reserved, available: item.available() })
    }

    fn save(self) -> Result<(), StepError> {
        for sku in &self.dirty {
            if let Some(item) = self.items.get(sku) {
                kv::set(&stock_key(sku), item)?;
            }
        }
        Ok(())
    }
}

fn check_key_part(value: &str, what: &str) -> Result<(), StepError> {
    if value.trim().is_empty() {
        let code = if what == "sku" { "missing-sku" } else { "missing-order" };
        return Err(StepError::invalid_input(code, format!("a blank {what}")));
    }
    if value.len() > MAX_KEY_PART {
        return Err(StepError::invalid_input("invalid-id", format!("{what} is over {MAX_KEY_PART} bytes")));
    }
    Ok(())
}

fn check_count(n: usize, what: &str) -> Result<(), StepError> {
    if n > MAX_ITEMS {
        return Err(StepError::invalid_input("too-many-lines", format!("{n} {what}; at most {MAX_ITEMS} per call")));
    }
    Ok(())
}

fn reserve_output(reservation: &Reservation, replayed: bool) -> Output {
    let reserved_units: i64 = reservation.lines.iter().map(|l| l.reserved).sum();
    let short_units: i64 = reservation.lines.iter().map(|l| l.short).sum();
    let fulfilment = if short_units == 0 {
        Fulfilment::Complete
    } else if reserved_units == 0 {
        Fulfilment::Backorder
    } else {
        Fulfilment::Split
    };
    Output::Reserve {
        order_id: reservation.order_id.clone(),
        fulfilment,
        reserved_units,
        short_units,
        replayed,
        lines: reservation.lines.clone(),
    }
}

/// Reserves `order`'s lines.
pub fn reserve(order: &Order) -> Result<Output, StepError> {
    check_key_part(&order.id, "order id")?;
    if order.lines.is_empty() {
        return Err(StepError::invalid_input("empty-order", format!("order {} has no lines", order.id)));
    }
    check_count(order.lines.len(), "order lines")?;
    for (i, line) in order.lines.iter().enumerate() {
        check_key_part(&line.sku, "sku")?;
        if line.quantity <= 0 {
            return Err(StepError::invalid_input(
                "invalid-quantity",
                format!("line {} (sku {}) of order {} has quantity {}", i + 1, line.sku, order.id, line.quantity),
            ));
        }
    }

    if let Some(existing) = kv::get::<Reservation>(&reservation_key(&order.id))?
        && existing.status == ReservationStatus::Active
    {
        let asked: Vec<(&str, i64)> = order.lines.iter().map(|l| (l.sku.as_str(), l.quantity)).collect();
        let held: Vec<(&str, i64)> = existing.lines.iter().map(|l| (l.sku.as_str(), l.requested)).collect();
        if asked != held {
            return Err(StepError::business(
                "reservation-conflict",
                format!("order {} already holds a reservation for other lines; release it first", order.id),
            ));
        }
        log::info(&format!("order {}: reservation exists, nothing reserved again", order.id));
        return Ok(reserve_output(&existing, true));
    }

    let mut ledger = Ledger::open()?;
    let mut lines = Vec::with_capacity(order.lines.len());
    for line in &order.lines {
        let item = ledger.item(&line.sku)?;
        let take = line.quantity.min(item.available());
        let reserved =
            item.reserved.unwrap_or(0).checked_add(take).ok_or_else(|| {
                StepError::internal("invalid-state", format!("reserved units of {} overflow", line.sku))
            })?;
        item.reserved = Some(reserved);
        if take > 0 {
            ledger.touch(&line.sku);
        }
        let short = line.quantity - take;
        let status = if short == 0 {
            LineStatus::Reserved
        } else if take > 0 {
            LineStatus::Partial
        } else {
            LineStatus::Short
        };
        lines.push(ReservedLine {
            sku: line.sku.clone(),
            line_id: line.line_id.clone(),
            requested: line.quantity,
            reserved: take,
            short,
            status,
        });
    }
    let reservation = Reservation { order_id: order.id.clone(), status: ReservationStatus::Active, lines };
    ledger.save()?;
    kv::set(&reservation_key(&order.id), &reservation)?;
    Ok(reserve_output(&reservation, false))
}

/// Releases the reservation of `order_id`; a no-op when it has none or it was released already.
pub fn release(order_id: &str) -> Result<Output, StepError> {
    check_key_part(order_id, "order id")?;
    let key = reservation_key(order_id);
    let nothing = |reason: &str| Output::Release {
        order_id: order_id.to_string(),
        released: false,
        reason: Some(reason.to_string()),
        lines: Vec::new(),
    };
    let Some(mut reservation) = kv::get::<Reservation>(&key)? else {
        return Ok(nothing("no-reservation"));
    };
    if reservation.status == ReservationStatus::Released {
        return Ok(nothing("already-released"));
    }
    let mut ledger = Ledger::open()?;
    let mut released = Vec::new();
    for line in reservation.lines.iter().filter(|l| l.reserved > 0) {
        let item = ledger.item(&line.sku)?;
        let held = item.reserved.unwrap_or(0);
        if held < line.reserved {
            // Someone rewrote the stock record under the reservation; never let `reserved` go negative.
            log::warn(&format!(
                "order {order_id}: {} holds {held} reserved units, fewer than the {} being released",
                line.sku, line.reserved
            ));
        }
        item.reserved = Some((held - line.reserved).max(0));
        ledger.touch(&line.sku);
        released.push(Released { sku: line.sku.clone(), quantity: line.reserved });
    }
    reservation.status = ReservationStatus::Released;
    ledger.save()?;
    kv::set(&key, &reservation)?;
    Ok(Output::Release { order_id: order_id.to_string(), released: true, reason: None, lines: released })
}

/// Applies stock movements, all or none.
pub fn adjust(adjustments: &[Adjustment]) -> Result<Output, StepError> {
    if adjustments.is_empty() {
        return Err(StepError::invalid_input("empty-adjustments", "adjust needs at least one adjustment"));
    }
    check_count(adjustments.len(), "adjustments")?;
    let mut ledger = Ledger::open()?;
    for adj in adjustments {
        check_key_part(&adj.sku, "sku")?;
        let item = ledger.item(&adj.sku)?;
        let on_hand = item.on_hand.checked_add(adj.delta).ok_or_else(|| {
            StepError::invalid_input("invalid-quantity", format!("adjusting {} by {} overflows", adj.sku, adj.delta))
        })?;
        let reserved = item.reserved.unwrap_or(0);
        if on_hand < reserved {
            return Err(StepError::business(
                "below-reserved",
                format!("{} would have {on_hand} units on hand but {reserved} are reserved", adj.sku),
            ));
        }
        item.on_hand = on_hand;
        ledger.touch(&adj.sku);
    }
    let skus = ledger.dirty.clone();
    let levels = skus.iter().map(|sku| ledger.level(sku)).collect::<Result<Vec<_>, _>>()?;
    ledger.save()?;
    Ok(Output::Adjust { levels })
}

/// Reads stock levels without writing (a SKU not met yet shows its configured initial stock).
pub fn levels(skus: &[String]) -> Result<Output, StepError> {
    check_count(skus.len(), "skus")?;
    let mut ledger = Ledger::open()?;
    let mut levels = Vec::with_capacity(skus.len());
    for sku in skus {
        check_key_part(sku, "sku")?;
        levels.push(ledger.level(sku)?);
    }
    Ok(Output::Levels { levels })
}

/// The stock-ledger step.
pub struct StockLedger;

impl Step for StockLedger {
    type Input = Input;
    type Output = Output;

    fn run(_ctx: &Context, input: Input) -> Result<Output, StepError> {
        let mode = config::parse::<Mode>("mode")?
            .or(input.mode)
            .ok_or_else(|| StepError::invalid_input("missing-mode", "no `mode` in the step's config or the input"))?;
        match mode {
            Mode::Reserve => {
                let order = input
                    .order
                    .as_ref()
                    .ok_or_else(|| StepError::invalid_input("missing-order", "reserve needs an `order`"))?;
                reserve(order)
            }
            Mode::Release => {
                let id = input.order_id.clone().or_else(|| input.order.as_ref().map(|o| o.id.clone()));
                let id = id.ok_or_else(|| {
                    StepError::invalid_input("missing-order", "release needs an `order_id` (or an `order`)")
                })?;
                release(&id)
            }
            Mode::Adjust => adjust(&input.adjustments),
            Mode::Levels => levels(&input.skus),
        }
    }
}

alur_sdk::export_step!(StockLedger);

#[cfg(test)]
mod tests {
    use super::*;
    use alur_sdk::ErrorKind;
    use alur_sdk::testing::{reset, set_config, snapshot};
    use serde_json::{Value, json};

    fn run(input: Value) -> Result<Value, StepError> {
        let out = alur_sdk::__private::run_json::<StockLedger>(&Context::for_test("ledger"), &input.to_string())?;
        Ok(serde_json::from_str(&out).unwrap())
    }

    fn reserve_order(id: &str, lines: Value) -> Result<Value, StepError> {
        run(json!({"mode": "reserve", "order": {"id": id, "lines": lines}}))
    }

    fn level(sku: &str) -> (i64, i64) {
        let out = run(json!({"mode": "levels", "skus": [sku]})).unwrap();
        (out["levels"][0]["on_hand"].as_i64().unwrap(), out["levels"][0]["reserved"].as_i64().unwrap())
    }

    #[test]
    fn reserve_seeds_stock_from_config_and_reserves_everything_available() {
        reset();
        set_config("stock", r#"{"WID-1": 10, "GAD-2": 3}"#);
        let out = reserve_order(
            "SO-1",
            json!([{"sku": "WID-1", "quantity": 4, "line_id": "L1"}, {"sku": "GAD-2", "quantity": 3}]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"mode": "reserve", "order_id": "SO-1", "fulfilment": "complete", "reserved_units": 7,
                   "short_units": 0, "replayed": false,
                   "lines": [{"sku": "WID-1", "line_id": "L1", "requested": 4, "reserved": 4, "short": 0, "status": "reserved"},
                             {"sku": "GAD-2", "requested": 3, "reserved": 3, "short": 0, "status": "reserved"}]})
        );
        assert_eq!(level("WID-1"), (10, 4));
        assert_eq!(level("GAD-2"), (3, 3));
        let stored: InventoryItem = kv::get("stock/WID-1").unwrap().unwrap();
        assert_eq!((stored.on_hand, stored.reserved), (10, Some(4)));
    }

    #[test]
    fn shortage_splits_and_nothing_available_is_a_backorder() {
        reset();
        set_config("stock", r#"{"WID-1": 5}"#);
        let out = reserve_order(
            "SO-1",
            json!([{"sku": "WID-1", "quantity": 3}, {"sku": "WID-1", "quantity": 4}, {"sku": "NOPE", "quantity": 1}]),
        )
        .unwrap();
        assert_eq!(out["fulfilment"], "split");
        let statuses: Vec<(i64, i64, &str)> = out["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["reserved"].as_i64().unwrap(), l["short"].as_i64().unwrap(), l["status"].as_str().unwrap()))
            .collect();
        assert_eq!(statuses, vec![(3, 0, "reserved"), (2, 2, "partial"), (0, 1, "short")]);
        assert_eq!((out["reserved_units"].clone(), out["short_units"].clone()), (json!(5), json!(3)));

        let out = reserve_order("SO-2", json!([{"sku": "WID-1", "quantity": 1}])).unwrap();
        assert_eq!((out["fulfilment"].as_str(), out["reserved_units"].as_i64()), (Some("backorder"), Some(0)));
        assert_eq!(level("WID-1"), (5, 5));
    }

    #[test]
    fn a_repeated_reserve_is_idempotent() {
        reset();
        set_config("stock", r#"{"WID-1": 10}"#);
        let lines = json!([{"sku": "WID-1", "quantity": 4}]);
        let first = reserve_order("SO-1", lines.clone()).unwrap();
        let again = reserve_order("SO-1", lines).unwrap();
        assert_eq!(again["replayed"], true);
        assert_eq!(again["lines"], first["lines"]);
        assert_eq!(level("WID-1"), (10, 4));
        let err = reserve_order("SO-1", json!([{"sku": "WID-1", "quantity": 5}])).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Business, "reservation-conflict"));
    }

    #[test]
    fn release_gives_stock_back_once() {
        reset();
        set_config("stock", r#"{"WID-1": 10, "GAD-2": 1}"#);
        reserve_order("SO-1", json!([{"sku": "WID-1", "quantity": 4}, {"sku": "GAD-2", "quantity": 2}])).unwrap();
        let out = run(json!({"mode": "release", "order_id": "SO-1"})).unwrap();
        assert_eq!(
            out,
            json!({"mode": "release", "order_id": "SO-1", "released": true,
                   "lines": [{"sku": "WID-1", "quantity": 4}, {"sku": "GAD-2", "quantity": 1}]})
        );
        assert_eq!((level("WID-1"), level("GAD-2")), ((10, 0), (1, 0)));
        let again = run(json!({"mode": "release", "order_id": "SO-1"})).unwrap();
        assert_eq!((again["released"].clone(), again["reason"].clone()), (json!(false), json!("already-released")));
        assert_eq!(level("WID-1"), (10, 0));
        let never = run(json!({"mode": "release", "order_id": "SO-404"})).unwrap();
        assert_eq!(never["reason"], "no-reservation");
    }

    #[test]
    fn released_stock_is_reservable_by_a_later_order_and_the_same_order_again() {
        reset();
        set_config("stock", r#"{"WID-1": 4}"#);
        reserve_order("SO-1", json!([{"sku": "WID-1", "quantity": 4}])).unwrap();
        assert_eq!(reserve_order("SO-2", json!([{"sku": "WID-1", "quantity": 4}])).unwrap()["fulfilment"], "backorder");
        run(json!({"mode": "release", "order": {"id": "SO-1"}})).unwrap();
        assert_eq!(reserve_order("SO-3", json!([{"sku": "WID-1", "quantity": 3}])).unwrap()["fulfilment"], "complete");
        let again = reserve_order("SO-1", json!([{"sku": "WID-1", "quantity": 4}])).unwrap();
        assert_eq!((again["replayed"].clone(), again["reserved_units"].clone()), (json!(false), json!(1)));
    }

    #[test]
    fn config_mode_wins_over_the_input() {
        reset();
        set_config("stock", r#"{"WID-1": 4}"#);
        let reserve_output = reserve_order("SO-1", json!([{"sku": "WID-1", "quantity": 2}])).unwrap();
        set_config("mode", "release");
        // An undo step without an input expression gets the reserve step's output: it names the order, and its
        // `"mode": "reserve"` must not turn the undo into a second reservation.
        assert_eq!(run(reserve_output).unwrap()["released"], true);
        // The config fixes the mode even against an explicit one in the input.
        let err = run(json!({"mode": "levels", "skus": ["WID-1"]})).unwrap_err();
        assert_eq!(err.code, "missing-order");
        alur_sdk::testing::with(|h| h.config.remove("mode"));
        assert_eq!(level("WID-1"), (4, 0));
        set_config("mode", "sideways");
        assert_eq!(run(json!({"order_id": "SO-1"})).unwrap_err().code, "invalid-config");
    }

    #[test]
    fn adjust_books_goods_in_and_out_but_never_below_reserved() {
        reset();
        set_config("stock", r#"{"WID-1": 2}"#);
        reserve_order("SO-1", json!([{"sku": "WID-1", "quantity": 2}])).unwrap();
        let out =
            run(json!({"mode": "adjust", "adjustments": [{"sku": "WID-1", "delta": 5}, {"sku": "NEW-1", "delta": 3}]}))
                .unwrap();
        assert_eq!(
            out["levels"],
            json!([{"sku": "WID-1", "on_hand": 7, "reserved": 2, "available": 5},
                   {"sku": "NEW-1", "on_hand": 3, "reserved": 0, "available": 3}])
        );
        let before = snapshot().kv;
        let err = run(
            json!({"mode": "adjust", "adjustments": [{"sku": "NEW-1", "delta": -1}, {"sku": "WID-1", "delta": -6}]}),
        )
        .unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Business, "below-reserved"));
        assert_eq!(snapshot().kv, before, "a refused adjustment writes nothing");
        run(json!({"mode": "adjust", "adjustments": [{"sku": "WID-1", "delta": -5}]})).unwrap();
        assert_eq!(level("WID-1"), (2, 2));
    }

    #[test]
    fn levels_read_without_writing() {
        reset();
        set_config("stock", r#"{"WID-1": {"sku": "WID-1", "on_hand": 9, "reserved": 2}}"#);
        let out = run(json!({"mode": "levels", "skus": ["WID-1", "NOPE"]})).unwrap();
        assert_eq!(
            out["levels"],
            json!([{"sku": "WID-1", "on_hand": 9, "reserved": 2, "available": 7},
                   {"sku": "NOPE", "on_hand": 0, "reserved": 0, "available": 0}])
        );
        assert!(snapshot().kv.is_empty());
    }

    #[test]
    fn bad_input_is_invalid_input() {
        reset();
        let long = "X".repeat(MAX_KEY_PART + 1);
        let many: Vec<Value> = (0..=MAX_ITEMS).map(|_| json!({"sku": "A", "quantity": 1})).collect();
        for (input, code) in [
            (json!({"order": {"id": "SO-1", "lines": [{"sku": "A", "quantity": 1}]}}), "missing-mode"),
            (json!({"mode": "reserve"}), "missing-order"),
            (json!({"mode": "release"}), "missing-order"),
            (json!({"mode": "reserve", "order": {"id": "SO-1", "lines": []}}), "empty-order"),
            (json!({"mode": "reserve", "order": {"id": "SO-1", "lines": [{"sku": "", "quantity": 1}]}}), "missing-sku"),
            (
                json!({"mode": "reserve", "order": {"id": "SO-1", "lines": [{"sku": "A", "quantity": -1}]}}),
                "invalid-quantity",
            ),
            (json!({"mode": "reserve", "order": {"id": long, "lines": [{"sku": "A", "quantity": 1}]}}), "invalid-id"),
            (json!({"mode": "reserve", "order": {"id": "SO-1", "lines": many}}), "too-many-lines"),
            (json!({"mode": "adjust", "adjustments": []}), "empty-adjustments"),
            (
                json!({"mode": "adjust", "adjustments": [{"sku": "A", "delta": i64::MAX}, {"sku": "A", "delta": 1}]}),
                "invalid-quantity",
            ),
            (json!({"mode": "levels", "skus": [long]}), "invalid-id"),
            (json!({"mode": "teleport"}), "invalid-input"),
            (
                json!({"mode": "reserve", "order": {"id": "SO-1", "lines": [{"sku": "A", "quantity": "1"}]}}),
                "invalid-input",
            ),
        ] {
            let err = run(input.clone()).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::InvalidInput, code), "{input}");
        }
        assert!(snapshot().kv.is_empty());
    }

    #[test]
    fn malformed_config_and_state_are_internal_errors() {
        reset();
        set_config("stock", r#"{"WID-1": "many"}"#);
        let err = reserve_order("SO-1", json!([{"sku": "WID-1", "quantity": 1}])).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-config"));
        reset();
        kv::set("reservation/SO-1", &json!({"order": "SO-1"})).unwrap();
        let err = run(json!({"mode": "release", "order_id": "SO-1"})).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-state"));
    }
}
