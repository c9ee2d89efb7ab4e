//! # scm-shipment-plan: turn a stock reservation into shipments and backorders
//!
//! Given an order and the reservation `scm-stock-ledger` made for it, the step decides how the order ships:
//!
//! - `complete`: every unit is reserved; everything ships now.
//! - `split`: part is reserved; the reserved units ship now and the rest is backordered.
//! - `backorder`: nothing is reserved (or the order must ship complete and cannot); nothing ships now.
//!
//! The units that ship are packed into parcels (when `max_parcel_grams` is set, greedily in line order; a line
//! may span parcels), and each parcel gets a carrier and service from the first carrier rule that matches its
//! destination country and weight. Each parcel is one [`Shipment`].
//!
//! ## Input
//!
//! ```json
//! {"order": {"id": "SO-1", "shipping_address": {"country": "DE"},
//!            "lines": [{"sku": "WID-1", "quantity": 4}, {"sku": "GAD-2", "quantity": 2}]},
//!  "reservation": {"lines": [{"sku": "WID-1", "requested": 4, "reserved": 4},
//!                            {"sku": "GAD-2", "requested": 2, "reserved": 1}]}}
//! ```
//!
//! `reservation` is the output of `scm-stock-ledger` in `reserve` mode (other fields are ignored): one line per
//! order line, in order, with the same SKU and quantity.
//!
//! ## Config
//!
//! | key                    | default | meaning                                                                  |
//! |------------------------|---------|--------------------------------------------------------------------------|
//! | `rules`                | —       | JSON list of [`CarrierRule`]s, first match wins, e.g. `[{"countries": ["DE"], "max_weight_grams": 31500, "carrier": "DHL", "service": "paket"}, {"carrier": "UPS", "service": "standard"}]` |
//! | `weights`              | `{}`    | JSON object from SKU to unit weight in grams                              |
//! | `default_weight_grams` | none    | unit weight of a SKU `weights` does not list                              |
//! | `max_parcel_grams`     | none    | heaviest parcel; without it all units ship in one parcel                  |
//! | `packaging_grams`      | `0`     | tare added to every parcel                                               |
//! | `max_parcels`          | `50`    | most parcels one plan may make                                            |
//! | `ship_partial`         | `true`  | `false` holds a partly reserved order back entirely (`backorder`, reason `ship-complete-required`) |
//! | `warehouse`            | none    | the warehouse shipped from when the order names none                     |
//!
//! ## Output
//!
//! ```json
//! {"order_id": "SO-1", "decision": "split", "shipped_units": 5, "backordered_units": 1,
//!  "shipments": [{"id": "SO-1-S1", "order_id": "SO-1", "status": "pending", "carrier": "DHL",
//!                 "service": "paket", "weight_grams": 2600, "ship_to": {"country": "DE"},
//!                 "lines": [{"sku": "WID-1", "quantity": 4}, {"sku": "GAD-2", "quantity": 1}]}],
//!  "backorder_lines": [{"sku": "GAD-2", "quantity": 1}]}
//! ```
//!
//! Shipment and backorder lines are copies of the order lines (ids, descriptions and prices kept) with the
//! quantity shipped or backordered. `reason` is present when an order was held back.
//!
//! ## Errors
//!
//! - `invalid_input`: `empty-order`, `invalid-quantity`, `reservation-mismatch` (the reservation does not
//!   belong to these lines, or reserves more than ordered), `missing-address` (units to ship but no
//!   destination country), `invalid-input` (the JSON does not fit).
//! - `business`: `unknown-weight` (a SKU without a weight), `unit-too-heavy` (one unit exceeds a parcel),
//!   `too-many-parcels`, `no-carrier` (no rule matches a parcel).
//! - `internal` `invalid-config`: missing or malformed `rules`, or another malformed config value.

use alur_sdk::records::scm::{Order, OrderLine, Shipment, ShipmentStatus};
use alur_sdk::{Context, Step, StepError, config, log};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The step's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The order.
    pub order: Order,
    /// Its reservation.
    pub reservation: Reservation,
}

/// The part of a `scm-stock-ledger` reservation the plan needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The order it was made for, when given.
    #[serde(default)]
    pub order_id: Option<String>,
    /// One per order line, in order.
    pub lines: Vec<ReservedLine>,
}

/// A reserved order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedLine {
    /// The SKU.
    pub sku: String,
    /// Units ordered.
    pub requested: i64,
    /// Units reserved.
    pub reserved: i64,
}

/// Picks a carrier for a parcel: it matches when the destination is in `countries` (any, when absent) and
/// the parcel weighs from `min_weight_grams` to `max_weight_grams` (inclusive; unbounded when absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierRule {
    /// Carrier name.
    pub carrier: String,
    /// Service level.
    pub service: String,
    /// ISO country codes served.
    #[serde(default)]
    pub countries: Option<Vec<String>>,
    /// Lightest parcel, in grams.
    #[serde(default)]
    pub min_weight_grams: Option<i64>,
    /// Heaviest parcel, in grams.
    #[serde(default)]
    pub max_weight_grams: Option<i64>,
}

impl CarrierRule {
    fn matches(&self, country: &str, grams: i64) -> bool {
        self.countries.as_ref().is_none_or(|cs| cs.iter().any(|c| c.trim().eq_ignore_ascii_case(country)))
            && self.min_weight_grams.is_none_or(|min| grams >= min)
            && self.max_weight_grams.is_none_or(|max| grams <= max)
    }
}

/// How the order ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// All of it, now.
    Complete,
    /// What is reserved now, the rest later.
    Split,
    /// Nothing now.
    Backorder,
}

/// The step's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// The order.
    pub order_id: String,
    /// How it ships.
    pub decision: Decision,
    /// Why an order with reserved units ships nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Units shipping now.
    pub shipped_units: i64,
    /// Units waiting for stock.
    pub backordered_units: i64,
    /// One per parcel.
    pub shipments: Vec<Shipment>,
    /// What waits for stock.
    pub backorder_lines: Vec<OrderLine>,
}

/// The plan's settings, from the step's config.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Carrier rules.
    pub rules: Vec<CarrierRule>,
    /// Unit weights by SKU.
    pub weights: BTreeMap<String, i64>,
    /// Weight of an unlisted SKU.
    pub default_weight: Option<i64>,
    /// Heaviest parcel.
    pub max_parcel: Option<i64>,
    /// Tare per parcel.
    pub packaging: i64,
    /// Most parcels.
    pub max_parcels: usize,
    /// Whether a partly reserved order ships in parts.
    pub ship_partial: bool,
    /// Fallback warehouse.
    pub warehouse: Option<String>,
}

fn bad_config(message: String) -> StepError {
    StepError::internal("invalid-config", message)
}

impl Settings {
    /// Reads the config.
    pub fn from_config() -> Result<Self, StepError> {
        let rules: Vec<CarrierRule> =
            config::json("rules")?.ok_or_else(|| bad_config("no carrier `rules` configured".into()))?;
        if rules.is_empty() {
            return Err(bad_config("`rules` is empty: no parcel could get a carrier".into()));
        }
        let weights: BTreeMap<String, i64> = config::json("weights")?.unwrap_or_default();
        if let Some((sku, w)) = weights.iter().find(|(_, w)| **w < 0) {
            return Err(bad_config(format!("`weights` gives {sku} a negative weight {w}")));
        }
        let default_weight = config::parse::<i64>("default_weight_grams")?;
        let max_parcel = config::parse::<i64>("max_parcel_grams")?;
        let packaging = config::parse::<i64>("packaging_grams")?.unwrap_or(0);
        if default_weight.is_some_and(|w| w < 0) || max_parcel.is_some_and(|w| w <= 0) || packaging < 0 {
            return Err(bad_config("weights must not be negative and `max_parcel_grams` must be positive".into()));
        }
        Ok(Settings {
            rules,
            weights,
            default_weight,
            max_parcel,
            packaging,
            max_parcels: config::parse::<usize>("max_parcels")?.unwrap_or(50).max(1),
            ship_partial: config::parse::<bool>("ship_partial")?.unwrap_or(true),
            warehouse: config::get("warehouse"),
        })
    }

    fn unit_weight(&self, sku: &str) -> Result<i64, StepError> {
        self.weights.get(sku).copied().or(self.default_weight).ok_or_else(|| {
            StepError::business("unknown-weight", format!("no weight for {sku} and no `default_weight_grams`"))
        })
    }
}

struct Parcel {
    grams: i64,
    lines: Vec<OrderLine>,
}

fn with_quantity(line: &OrderLine, quantity: i64) -> OrderLine {
    OrderLine { quantity, ..line.clone() }
}

fn too_heavy(what: &str) -> StepError {
    StepError::invalid_input("invalid-quantity", format!("the weight of {what} overflows"))
}

/// Packs `(line, units)` into parcels.
fn pack(items: &[(OrderLine, i64)], settings: &Settings) -> Result<Vec<Parcel>, StepError> {
    let open = |parcels: &mut Vec<Parcel>| -> Result<(), StepError> {
        if parcels.len() >= settings.max_parcels {
            return Err(StepError::business(
                "too-many-parcels",
                format!("the shipment needs more than {} parcels", settings.max_parcels),
            ));
        }
        parcels.push(Parcel { grams: settings.packaging, lines: Vec::new() });
        Ok(())
    };
    let mut parcels: Vec<Parcel> = Vec::new();
    open(&mut parcels)?;
    for (line, units) in items {
        let unit = settings.unit_weight(&line.sku)?;
        let mut left = *units;
        let Some(max) = settings.max_parcel else {
            let grams = unit.checked_mul(left).ok_or_else(|| too_heavy(&line.sku))?;
            let parcel = parcels.last_mut().ok_or_else(|| StepError::internal("pack", "no parcel"))?;
            parcel.grams = parcel.grams.checked_add(grams).ok_or_else(|| too_heavy("the parcel"))?;
            parcel.lines.push(with_quantity(line, left));
            continue;
        };
        if unit.saturating_add(settings.packaging) > max {
            return Err(StepError::business(
                "unit-too-heavy",
                format!("one unit of {} weighs {unit} g, more than a parcel may ({max} g with packaging)", line.sku),
            ));
        }
        while left > 0 {
            let parcel = parcels.last_mut().ok_or_else(|| StepError::internal("pack", "no parcel"))?;
            let room = max - parcel.grams;
            let fits = if unit == 0 { left } else { (room / unit).min(left) };
            if fits == 0 {
                open(&mut parcels)?;
                continue;
            }
            parcel.grams += fits * unit;
            parcel.lines.push(with_quantity(line, fits));
            left -= fits;
        }
    }
    Ok(parcels)
}

fn mismatch(message: String) -> StepError {
    StepError::invalid_input("reservation-mismatch", message)
}

/// Plans the shipments of `input`.
pub fn plan(input: &Input, settings: &Settings) -> Result<Output, StepError> {
    let order = &input.order;
    if order.lines.is_empty() {
        return Err(StepError::invalid_input("empty-order", format!("order {} has no lines", order.id)));
    }
    if let Some(id) = &input.reservation.order_id
        && *id != order.id
    {
        return Err(mismatch(format!("the reservation is for order {id}, not {}", order.id)));
    }
    if input.reservation.lines.len() != order.lines.len() {
        return Err(mismatch(format!(
            "order {} has {} lines but its reservation {}",
            order.id,
            order.lines.len(),
            input.reservation.lines.len()
        )));
    }
    let mut ship = Vec::new();
    let mut backorder = Vec::new();
    for (i, (line, held)) in order.lines.iter().zip(&input.reservation.lines).enumerate() {
        if line.quantity <= 0 {
            return Err(StepError::invalid_input(
                "invalid-quantity",
                format!("line {} (sku {}) has quantity {}", i + 1, line.sku, line.quantity),
            ));
        }
        if held.sku != line.sku || held.requested != line.quantity || !(0..=line.quantity).contains(&held.reserved) {
            return Err(mismatch(format!(
                "line {}: the order has {} × {} but the reservation {} of {} × {}",
                i + 1,
                line.quantity,
                line.sku,
                held.reserved,
                held.requested,
                held.sku
            )));
        }
        if held.reserved > 0 {
            ship.push((line.clone(), held.reserved));
        }
        if held.reserved < line.quantity {
            backorder.push(with_quantity(line, line.quantity - held.reserved));
        }
    }
    let mut decision = match (ship.is_empty(), backorder.is_empty()) {
        (true, _) => Decision::Backorder,
        (false, true) => Decision::Complete,
        (false, false) => Decision::Split,
    };
    let mut reason = None;
    if decision == Decision::Split && !settings.ship_partial {
        decision = Decision::Backorder;
        reason = Some("ship-complete-required".to_string());
        ship.clear();
        backorder = order.lines.clone();
    }

    let mut shipments = Vec::new();
    if !ship.is_empty() {
        let country = order
            .shipping_address
            .as_ref()
            .and_then(|a| a.country.as_deref())
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                StepError::invalid_input(
                    "missing-address",
                    format!("order {} has units to ship but no shipping_address.country", order.id),
                )
            })?;
        for (n, parcel) in pack(&ship, settings)?.into_iter().enumerate() {
            let rule = settings.rules.iter().find(|r| r.matches(&country, parcel.grams)).ok_or_else(|| {
                StepError::business(
                    "no-carrier",
                    format!("no carrier rule takes a parcel of {} g to {country}", parcel.grams),
                )
            })?;
            shipments.push(Shipment {
                id: format!("{}-S{}", order.id, n + 1),
                order_id: Some(order.id.clone()),
                status: Some(ShipmentStatus::Pending),
                carrier: Some(rule.carrier.clone()),
                service: Some(rule.service.clone()),
                weight_grams: Some(parcel.grams),
                tracking_number: None,
                warehouse: order.warehouse.clone().or_else(|| settings.warehouse.clone()),
                ship_to: order.shipping_address.clone(),
                lines: parcel.lines,
                shipped_at: None,
                estimated_delivery: None,
                delivered_at: None,
            });
        }
    }
    Ok(Output {
        order_id: order.id.clone(),
        decision,
        reason,
        shipped_units: ship.iter().map(|(_, n)| n).sum(),
        backordered_units: backorder.iter().map(|l| l.quantity).sum(),
        shipments,
        backorder_lines: backorder,
    })
}

/// The shipment-plan step.
pub struct ShipmentPlan;

impl Step for ShipmentPlan {
    type Input = Input;
    type Output = Output;

    fn run(_ctx: &Context, input: Input) -> Result<Output, StepError> {
        let settings = Settings::from_config()?;
        let out = plan(&input, &settings)?;
        log::debug(&format!(
            "order {}: {:?}, {} parcels, {} units backordered",
            out.order_id,
            out.decision,
            out.shipments.len(),
            out.backordered_units
        ));
        Ok(out)
    }
}

alur_sdk::export_step!(ShipmentPlan);

#[cfg(test)]
mod tests {
    use super::*;
    use alur_sdk::ErrorKind;
    use alur_sdk::testing::{reset, set_config};
    use serde_json::{Value, json};

    const RULES: &str = r#"[
        {"countries": ["DE", "AT"], "max_weight_grams": 2000, "carrier": "DHL", "service": "warenpost"},
        {"countries": ["DE", "AT"], "max_weight_grams": 31500, "carrier": "DHL", "service": "paket"},
        {"max_weight_grams": 30000, "carrier": "UPS", "service": "standard"}
    ]"#;

    fn setup() {
        reset();
        set_config("rules", RULES);
        set_config("weights", r#"{"WID-1": 500, "GAD-2": 1200, "ANVIL": 40000}"#);
    }

    fn input(country: &str, lines: &[(&str, i64, i64)]) -> Value {
        let order_lines: Vec<Value> = lines
            .iter()
            .enumerate()
            .map(|(i, (sku, q, _))| json!({"line_id": format!("L{}", i + 1), "sku": sku, "quantity": q}))
            .collect();
        let held: Vec<Value> =
            lines.iter().map(|(sku, q, r)| json!({"sku": sku, "requested": q, "reserved": r})).collect();
        json!({"order": {"id": "SO-1", "shipping_address": {"country": country}, "lines": order_lines},
               "reservation": {"order_id": "SO-1", "lines": held}})
    }

    fn run(input: Value) -> Result<Value, StepError> {
        let out = alur_sdk::__private::run_json::<ShipmentPlan>(&Context::for_test("plan"), &input.to_string())?;
        Ok(serde_json::from_str(&out).unwrap())
    }

    fn carriers(out: &Value) -> Vec<(String, i64)> {
        out["shipments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    format!("{}/{}", s["carrier"].as_str().unwrap(), s["service"].as_str().unwrap()),
                    s["weight_grams"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn fully_reserved_order_ships_complete_in_one_parcel() {
        setup();
        let out = run(input("DE", &[("WID-1", 2, 2), ("GAD-2", 1, 1)])).unwrap();
        assert_eq!(out["decision"], "complete");
        assert_eq!(carriers(&out), vec![("DHL/paket".into(), 2200)]);
        assert_eq!(
            out["shipments"][0]["lines"],
            json!([{"line_id": "L1", "sku": "WID-1", "quantity": 2}, {"line_id": "L2", "sku": "GAD-2", "quantity": 1}])
        );
        assert_eq!(out["shipments"][0]["id"], "SO-1-S1");
        assert_eq!(out["shipments"][0]["status"], "pending");
        assert_eq!(out["backorder_lines"], json!([]));
        assert_eq!((out["shipped_units"].as_i64(), out["backordered_units"].as_i64()), (Some(3), Some(0)));
    }

    #[test]
    fn light_parcel_takes_the_cheaper_service_and_other_countries_the_fallback() {
        setup();
        assert_eq!(carriers(&run(input("AT", &[("WID-1", 4, 4)])).unwrap()), vec![("DHL/warenpost".into(), 2000)]);
        assert_eq!(carriers(&run(input("fr", &[("WID-1", 4, 4)])).unwrap()), vec![("UPS/standard".into(), 2000)]);
    }

    #[test]
    fn partly_reserved_order_is_split_into_shipment_and_backorder() {
        setup();
        let out = run(input("DE", &[("WID-1", 4, 4), ("GAD-2", 3, 1)])).unwrap();
        assert_eq!(out["decision"], "split");
        assert_eq!(out["shipments"][0]["lines"][1], json!({"line_id": "L2", "sku": "GAD-2", "quantity": 1}));
        assert_eq!(out["backorder_lines"], json!([{"line_id": "L2", "sku": "GAD-2", "quantity": 2}]));
        assert_eq!((out["shipped_units"].as_i64(), out["backordered_units"].as_i64()), (Some(5), Some(2)));
    }

    #[test]
    fn nothing_reserved_is_a_backorder_without_shipments_or_address() {
        setup();
        let mut order = input("DE", &[("WID-1", 4, 0), ("GAD-2", 1, 0)]);
        order["order"].as_object_mut().unwrap().remove("shipping_address");
        let out = run(order).unwrap();
        assert_eq!(out["decision"], "backorder");
        assert_eq!(out["shipments"], json!([]));
        assert_eq!(out["backordered_units"], 5);
    }

    #[test]
    fn ship_complete_orders_are_held_instead_of_split() {
        setup();
        set_config("ship_partial", "false");
        let out = run(input("DE", &[("WID-1", 4, 4), ("GAD-2", 3, 1)])).unwrap();
        assert_eq!(
            (out["decision"].as_str(), out["reason"].as_str()),
            (Some("backorder"), Some("ship-complete-required"))
        );
        assert_eq!(out["shipments"], json!([]));
        assert_eq!(out["backordered_units"], 7);
        // A complete reservation still ships.
        assert_eq!(run(input("DE", &[("WID-1", 4, 4)])).unwrap()["decision"], "complete");
    }

    #[test]
    fn heavy_shipments_are_packed_into_parcels() {
        setup();
        set_config("max_parcel_grams", "2000");
        set_config("packaging_grams", "100");
        // 7 × 500 g: 3 units fit beside the 100 g box per parcel (1600 g), so 3 + 3 + 1.
        let out = run(input("DE", &[("WID-1", 7, 7), ("GAD-2", 1, 1)])).unwrap();
        assert_eq!(
            carriers(&out),
            vec![("DHL/warenpost".into(), 1600), ("DHL/warenpost".into(), 1600), ("DHL/warenpost".into(), 1800)]
        );
        let per_parcel: Vec<Value> = out["shipments"].as_array().unwrap().iter().map(|s| s["lines"].clone()).collect();
        assert_eq!(
            per_parcel[2],
            json!([{"line_id": "L1", "sku": "WID-1", "quantity": 1}, {"line_id": "L2", "sku": "GAD-2", "quantity": 1}])
        );
        assert_eq!(out["shipments"][2]["id"], "SO-1-S3");

        set_config("max_parcels", "2");
        let err = run(input("DE", &[("WID-1", 7, 7)])).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Business, "too-many-parcels"));
        let err = run(input("DE", &[("ANVIL", 1, 1)])).unwrap_err();
        assert_eq!(err.code, "unit-too-heavy");
    }

    #[test]
    fn business_refusals() {
        setup();
        let err = run(input("DE", &[("MYSTERY", 1, 1)])).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Business, "unknown-weight"));
        set_config("default_weight_grams", "100");
        assert!(run(input("DE", &[("MYSTERY", 1, 1)])).is_ok());
        let err = run(input("US", &[("ANVIL", 1, 1)])).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Business, "no-carrier"));
    }

    #[test]
    fn reservation_must_belong_to_the_order() {
        setup();
        let mut wrong_order = input("DE", &[("WID-1", 1, 1)]);
        wrong_order["reservation"]["order_id"] = json!("SO-2");
        let mut fewer = input("DE", &[("WID-1", 1, 1), ("GAD-2", 1, 1)]);
        fewer["reservation"]["lines"].as_array_mut().unwrap().pop();
        let mut other_sku = input("DE", &[("WID-1", 1, 1)]);
        other_sku["reservation"]["lines"][0]["sku"] = json!("GAD-2");
        for bad in [wrong_order, fewer, other_sku, input("DE", &[("WID-1", 1, 2)]), input("DE", &[("WID-1", 2, -1)])] {
            let err = run(bad.clone()).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::InvalidInput, "reservation-mismatch"), "{bad}");
        }
    }

    #[test]
    fn bad_input_is_invalid_input() {
        setup();
        let mut no_address = input("DE", &[("WID-1", 1, 1)]);
        no_address["order"]["shipping_address"] = json!({"city": "Berlin"});
        for (bad, code) in [
            (no_address, "missing-address"),
            (input("DE", &[]), "empty-order"),
            (input("DE", &[("WID-1", 0, 0)]), "invalid-quantity"),
            (json!({"order": {"id": "SO-1", "lines": []}}), "invalid-input"),
        ] {
            let err = run(bad.clone()).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::InvalidInput, code), "{bad}");
        }
        set_config("weights", r#"{"WID-1": 1}"#);
        set_config("default_weight_grams", &i64::MAX.to_string());
        let err = run(input("DE", &[("WID-1", 1, 1), ("HUGE", 2, 2)])).unwrap_err();
        assert_eq!(err.code, "invalid-quantity");
    }

    #[test]
    fn bad_config_is_an_internal_error() {
        for (key, value) in [
            ("rules", "[]"),
            ("rules", "{}"),
            ("weights", r#"{"A": -1}"#),
            ("max_parcel_grams", "0"),
            ("ship_partial", "maybe"),
        ] {
            setup();
            set_config(key, value);
            let err = run(input("DE", &[("WID-1", 1, 1)])).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-config"), "{key}={value}");
        }
        reset();
        let err = run(input("DE", &[("WID-1", 1, 1)])).unwrap_err();
        assert_eq!(err.code, "invalid-config");
    }
}
