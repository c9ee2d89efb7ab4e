//! # scm-three-way-match: does the supplier's bill match what we ordered and received?
//!
//! Accounts payable pays a supplier bill only when it agrees with the purchase order (the agreed price) and
//! the goods receipt (the quantity that actually arrived). Per SKU the step compares:
//!
//! - quantity: billed against received, within `qty_tolerance_pct` of the received quantity; and never more
//!   than ordered beyond the same tolerance;
//! - price: the billed unit price against the PO's unit cost, within `price_tolerance_pct` of the PO price;
//!
//! and over the whole bill the amount billed against the amount expected (received quantity × PO price),
//! within `amount_tolerance` minor units. Money is compared in integer minor units and tolerances as exact
//! decimals, so a bill exactly at the tolerance passes on every platform.
//!
//! ## Input
//!
//! ```json
//! {"purchase_order": {"id": "PO-7", "supplier_id": "SUP-3",
//!                     "lines": [{"sku": "WID-1", "quantity": 100, "unit_cost": {"amount": 2.5, "currency": "EUR"}}]},
//!  "goods_receipt": {"id": "GR-1", "lines": [{"sku": "WID-1", "quantity": 100}]},
//!  "bill": {"id": "BILL-1", "supplier_id": "SUP-3",
//!           "lines": [{"sku": "WID-1", "quantity": 100, "unit_price": {"amount": 2.5, "currency": "EUR"}}]}}
//! ```
//!
//! The purchase order is a [`PurchaseOrder`]; every line needs a `unit_cost`. Lines of one document with the
//! same SKU are added up (and must agree on the price).
//!
//! ## Config
//!
//! | key                   | default | meaning                                                           |
//! |-----------------------|---------|-------------------------------------------------------------------|
//! | `qty_tolerance_pct`   | `0`     | allowed quantity deviation, percent (decimal, e.g. `"2.5"`)        |
//! | `price_tolerance_pct` | `0`     | allowed unit-price deviation, percent                             |
//! | `amount_tolerance`    | `0`     | allowed deviation of the bill's total, minor units                |
//!
//! ## Output
//!
//! ```json
//! {"matched": false, "purchase_order_id": "PO-7", "bill_id": "BILL-1", "goods_receipt_id": "GR-1",
//!  "currency": "EUR", "expected_total": 25000, "billed_total": 26000, "variance": 1000,
//!  "lines": [{"sku": "WID-1", "status": "price-mismatch", "ordered": 100, "received": 100, "billed": 100,
//!             "po_unit_price": 250, "bill_unit_price": 260, "expected_amount": 25000,
//!             "billed_amount": 26000, "amount_variance": 1000}],
//!  "open_lines": [], "reasons": ["WID-1: billed unit price 260 differs from the PO price 250 by more than 0%"]}
//! ```
//!
//! A line's `status` is `matched`, `qty-mismatch`, `price-mismatch` (a line wrong in both is a
//! `qty-mismatch`) or `missing` (on the bill or receipt but absent from another document; `missing_from`
//! names which). A PO line neither received nor billed is not part of this bill: it is listed in `open_lines`
//! and does not affect the match. `variance = billed_total - expected_total` (positive: the supplier asks for
//! more). `matched` is true when every line matched and `|variance| <= amount_tolerance`; `reasons` explains
//! every failure.
//!
//! ## Errors
//!
//! - `business` `supplier-mismatch`: the bill names another supplier than the purchase order.
//! - `invalid_input`: `empty-bill`, `missing-price` (a PO line without `unit_cost`), `invalid-amount`,
//!   `invalid-quantity` (negative), `inconsistent-price` (one SKU at two prices in one document),
//!   `currency-mismatch`, `invalid-input` (the JSON does not fit).
//! - `internal` `invalid-config`: a tolerance that is not a non-negative number.

use alur_sdk::records::scm::{Money, PurchaseOrder};
use alur_sdk::{Context, Step, StepError, config, log};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Percentages are kept as percent × 10^4, so `"2.5"` is 25000 and 100 % is 1_000_000.
const PCT_SCALE: i128 = 10_000;

/// The step's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// What we ordered, at what price.
    pub purchase_order: PurchaseOrder,
    /// What arrived.
    pub goods_receipt: GoodsReceipt,
    /// What the supplier asks to be paid for.
    pub bill: SupplierBill,
}

/// A goods receipt: units counted in at the warehouse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoodsReceipt {
    /// Its id.
    #[serde(default)]
    pub id: Option<String>,
    /// Units received per SKU.
    #[serde(default)]
    pub lines: Vec<ReceiptLine>,
}

/// One received SKU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptLine {
    /// The SKU.
    pub sku: String,
    /// Units received.
    pub quantity: i64,
}

/// A supplier's bill (vendor invoice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupplierBill {
    /// Its id.
    #[serde(default)]
    pub id: Option<String>,
    /// The supplier billing.
    #[serde(default)]
    pub supplier_id: Option<String>,
    /// Billed lines.
    #[serde(default)]
    pub lines: Vec<BillLine>,
}

/// One billed SKU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillLine {
    /// The SKU.
    pub sku: String,
    /// Units billed.
    pub quantity: i64,
    /// Price per unit.
    pub unit_price: Money,
}

/// How one SKU compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Within every tolerance.
    Matched,
    /// Billed quantity off the received (or ordered) quantity.
    QtyMismatch,
    /// Billed price off the PO price.
    PriceMismatch,
    /// Absent from a document.
    Missing,
}

/// The comparison of one SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineMatch {
    /// The SKU.
    pub sku: String,
    /// The verdict.
    pub status: Status,
    /// Units on the PO.
    pub ordered: i64,
    /// Units received.
    pub received: i64,
    /// Units billed.
    pub billed: i64,
    /// PO unit price, minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub po_unit_price: Option<i64>,
    /// Billed unit price, minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_unit_price: Option<i64>,
    /// Received × PO price.
    pub expected_amount: i64,
    /// Billed × billed price.
    pub billed_amount: i64,
    /// `billed_amount - expected_amount`.
    pub amount_variance: i64,
    /// The documents without this SKU (`purchase_order`, `goods_receipt`, `bill`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_from: Vec<String>,
}

/// A PO line outside this bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenLine {
    /// The SKU.
    pub sku: String,
    /// Units ordered.
    pub ordered: i64,
}

/// The step's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// Whether the bill may be paid without review.
    pub matched: bool,
    /// The purchase order.
    pub purchase_order_id: String,
    /// The bill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_id: Option<String>,
    /// The goods receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_receipt_id: Option<String>,
    /// Currency of every amount.
    pub currency: String,
    /// Received × PO price over all SKUs.
    pub expected_total: i64,
    /// What the bill asks for.
    pub billed_total: i64,
    /// `billed_total - expected_total`.
    pub variance: i64,
    /// One per SKU on the bill or the receipt, PO order first.
    pub lines: Vec<LineMatch>,
    /// PO lines neither received nor billed.
    pub open_lines: Vec<OpenLine>,
    /// Why it did not match.
    pub reasons: Vec<String>,
}

/// The tolerances, from config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tolerances {
    /// Percent × 10^4.
    pub qty: i128,
    /// Percent × 10^4.
    pub price: i128,
    /// Minor units.
    pub amount: i64,
}

/// Parses a non-negative decimal percentage with at most four decimals into percent × 10^4.
pub fn parse_pct(text: &str) -> Option<i128> {
    let text = text.trim().trim_end_matches('%').trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 6 || frac.len() > 4 || !digits(whole) || !digits(frac) {
        return None;
    }
    let frac: i128 = if frac.is_empty() { 0 } else { format!("{frac:0<4}").parse().ok()? };
    Some(whole.parse::<i128>().ok()? * PCT_SCALE + frac)
}

fn pct_text(pct: i128) -> String {
    let (whole, frac) = (pct / PCT_SCALE, pct % PCT_SCALE);
    if frac == 0 { whole.to_string() } else { format!("{whole}.{}", format!("{frac:04}").trim_end_matches('0')) }
}

impl Tolerances {
    /// Reads the config.
    pub fn from_config() -> Result<Self, StepError> {
        let pct = |key: &str| -> Result<i128, StepError> {
            match config::get(key) {
                None => Ok(0),
                Some(text) => parse_pct(&text).ok_or_else(|| {
                    StepError::internal(
                        "invalid-config",
                        format!("`{key}` = {text:?} is not a non-negative percentage"),
                    )
                }),
            }
        };
        let amount = config::parse::<i64>("amount_tolerance")?.unwrap_or(0);
        if amount < 0 {
            return Err(StepError::internal("invalid-config", "`amount_tolerance` must not be negative"));
        }
        Ok(Tolerances { qty: pct("qty_tolerance_pct")?, price: pct("price_tolerance_pct")?, amount })
    }
}

/// Whether `actual` is within `pct` (percent × 10^4) of `expected`.
pub fn within(actual: i64, expected: i64, pct: i128) -> bool {
    let diff = (actual as i128 - expected as i128).abs();
    diff * 100 * PCT_SCALE <= (expected as i128).abs() * pct
}

/// One SKU's totals in one document: units and the unit price (minor units).
#[derive(Debug, Clone, Default)]
struct Tally {
    units: i64,
    price: Option<i64>,
}

/// Keeps SKUs in first-seen order.
#[derive(Default)]
struct Book {
    order: Vec<String>,
    by_sku: BTreeMap<String, Tally>,
}

impl Book {
    fn add(&mut self, doc: &str, sku: &str, units: i64, price: Option<i64>) -> Result<(), StepError> {
        if sku.trim().is_empty() {
            return Err(StepError::invalid_input("missing-sku", format!("a line of the {doc} has no sku")));
        }
        if units < 0 {
            return Err(StepError::invalid_input("invalid-quantity", format!("{doc} line {sku} has {units} units")));
        }
        if !self.by_sku.contains_key(sku) {
            self.order.push(sku.to_string());
        }
        let tally = self.by_sku.entry(sku.to_string()).or_default();
        tally.units = tally
            .units
            .checked_add(units)
            .ok_or_else(|| StepError::invalid_input("invalid-quantity", format!("{doc} units of {sku} overflow")))?;
        match (tally.price, price) {
            (Some(a), Some(b)) if a != b => Err(StepError::invalid_input(
                "inconsistent-price",
                format!("the {doc} lists {sku} at two prices, {a} and {b}"),
            )),
            (None, p) => {
                tally.price = p;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn get(&self, sku: &str) -> Option<&Tally> {
        self.by_sku.get(sku)
    }
}

/// Reads a price, checking the currency is the bill's.
fn price(money: &Money, currency: &mut Option<String>, what: &str) -> Result<i64, StepError> {
    let minor = money.to_minor_units().filter(|m| *m >= 0).ok_or_else(|| {
        StepError::invalid_input(
            "invalid-amount",
            format!("{what}: {} {} is negative or not a whole number of minor units", money.amount, money.currency),
        )
    })?;
    let code = money.currency.trim().to_ascii_uppercase();
    match currency {
        None => *currency = Some(code),
        Some(c) if *c != code => {
            return Err(StepError::invalid_input("currency-mismatch", format!("{what} is in {code}, not {c}")));
        }
        Some(_) => {}
    }
    Ok(minor)
}

fn amount(units: i64, price: Option<i64>) -> Result<i64, StepError> {
    units
        .checked_mul(price.unwrap_or(0))
        .ok_or_else(|| StepError::invalid_input("invalid-amount", "a line amount overflows"))
}

/// Matches the three documents.
pub fn three_way_match(input: &Input, tol: Tolerances) -> Result<Output, StepError> {
    let (po, receipt, bill) = (&input.purchase_order, &input.goods_receipt, &input.bill);
    if bill.lines.is_empty() {
        return Err(StepError::invalid_input("empty-bill", "the bill has no lines"));
    }
    if let Some(supplier) = &bill.supplier_id
        && supplier.trim() != po.supplier_id.trim()
    {
        return Err(StepError::business(
            "supplier-mismatch",
            format!("the bill is from {supplier} but purchase order {} is with {}", po.id, po.supplier_id),
        ));
    }
    let mut currency = None;
    let mut ordered = Book::default();
    for line in &po.lines {
        let cost = line.unit_cost.as_ref().ok_or_else(|| {
            StepError::invalid_input("missing-price", format!("PO line {} has no unit_cost", line.sku))
        })?;
        let p = price(cost, &mut currency, &format!("PO price of {}", line.sku))?;
        ordered.add("purchase order", &line.sku, line.quantity, Some(p))?;
    }
    let mut received = Book::default();
    for line in &receipt.lines {
        received.add("goods receipt", &line.sku, line.quantity, None)?;
    }
    let mut billed = Book::default();
    for line in &bill.lines {
        let p = price(&line.unit_price, &mut currency, &format!("billed price of {}", line.sku))?;
        billed.add("bill", &line.sku, line.quantity, Some(p))?;
    }

    let mut skus: Vec<&String> = ordered.order.iter().collect();
    for sku in received.order.iter().chain(&billed.order) {
        if !skus.contains(&sku) {
            skus.push(sku);
        }
    }
    let mut lines = Vec::new();
    let mut open_lines = Vec::new();
    let mut reasons = Vec::new();
    for sku in skus {
        let (o, r, b) = (ordered.get(sku), received.get(sku), billed.get(sku));
        if r.is_none() && b.is_none() {
            open_lines.push(OpenLine { sku: sku.clone(), ordered: o.map_or(0, |t| t.units) });
            continue;
        }
        let (ordered_units, received_units, billed_units) =
            (o.map_or(0, |t| t.units), r.map_or(0, |t| t.units), b.map_or(0, |t| t.units));
        let po_price = o.and_then(|t| t.price);
        let bill_price = b.and_then(|t| t.price);
        let expected_amount = amount(received_units, po_price)?;
        let billed_amount = amount(billed_units, bill_price)?;
        let missing_from: Vec<String> = [(o, "purchase_order"), (r, "goods_receipt"), (b, "bill")]
            .into_iter()
            .filter(|(t, _)| t.is_none())
            .map(|(_, name)| name.to_string())
            .collect();
        let status = if !missing_from.is_empty() {
            reasons.push(format!("{sku}: not on the {}", missing_from.join(" or the ")));
            Status::Missing
        } else {
            let qty_ok = within(billed_units, received_units, tol.qty)
                && (billed_units <= ordered_units || within(billed_units, ordered_units, tol.qty));
            let (pp, bp) = (po_price.unwrap_or(0), bill_price.unwrap_or(0));
            let price_ok = within(bp, pp, tol.price);
            if !qty_ok {
                reasons.push(format!(
                    "{sku}: billed {billed_units} units but {received_units} received and {ordered_units} ordered \
                     (tolerance {}%)",
                    pct_text(tol.qty)
                ));
            }
            if !price_ok {
                reasons.push(format!(
                    "{sku}: billed unit price {bp} differs from the PO price {pp} by more than {}%",
                    pct_text(tol.price)
                ));
            }
            match (qty_ok, price_ok) {
                (false, _) => Status::QtyMismatch,
                (true, false) => Status::PriceMismatch,
                (true, true) => Status::Matched,
            }
        };
        lines.push(LineMatch {
            sku: sku.clone(),
            status,
            ordered: ordered_units,
            received: received_units,
            billed: billed_units,
            po_unit_price: po_price,
            bill_unit_price: bill_price,
            expected_amount,
            billed_amount,
            amount_variance: billed_amount - expected_amount,
            missing_from,
        });
    }
    let overflow = || StepError::invalid_input("invalid-amount", "the totals overflow");
    let expected_total =
        lines.iter().try_fold(0i64, |acc, l| acc.checked_add(l.expected_amount)).ok_or_else(overflow)?;
    let billed_total = lines.iter().try_fold(0i64, |acc, l| acc.checked_add(l.billed_amount)).ok_or_else(overflow)?;
    let variance = billed_total.checked_sub(expected_total).ok_or_else(overflow)?;
    if variance.unsigned_abs() > tol.amount.unsigned_abs() {
        reasons.push(format!("the bill is off by {variance} minor units, more than the {} allowed", tol.amount));
    }
    Ok(Output {
        matched: reasons.is_empty(),
        purchase_order_id: po.id.clone(),
        bill_id: bill.id.clone(),
        goods_receipt_id: receipt.id.clone(),
        currency: currency.unwrap_or_default(),
        expected_total,
        billed_total,
        variance,
        lines,
        open_lines,
        reasons,
    })
}

/// The three-way-match step.
pub struct ThreeWayMatch;

impl Step for ThreeWayMatch {
    type Input = Input;
    type Output = Output;

    fn run(_ctx: &Context, input: Input) -> Result<Output, StepError> {
        let out = three_way_match(&input, Tolerances::from_config()?)?;
        log::info(&format!(
            "PO {} / bill {}: matched={}, variance {} {}",
            out.purchase_order_id,
            out.bill_id.as_deref().unwrap_or("?"),
            out.matched,
            out.variance,
            out.currency
        ));
        Ok(out)
    }
}

alur_sdk::export_step!(ThreeWayMatch);

#[cfg(test)]
mod tests {
    use super::*;
    use alur_sdk::ErrorKind;
    use alur_sdk::testing::{reset, set_config};
    use serde_json::{Value, json};

    fn eur(amount: f64) -> Value {
        json!({"amount": amount, "currency": "EUR"})
    }

    /// PO: 100 × WID-1 at 2.50, 10 × GAD-2 at 40.00.
    fn docs(received: Value, billed: Value) -> Value {
        json!({
            "purchase_order": {"id": "PO-7", "supplier_id": "SUP-3", "lines": [
                {"sku": "WID-1", "quantity": 100, "unit_cost": eur(2.5)},
                {"sku": "GAD-2", "quantity": 10, "unit_cost": eur(40.0)}]},
            "goods_receipt": {"id": "GR-1", "lines": received},
            "bill": {"id": "BILL-1", "supplier_id": "SUP-3", "lines": billed}
        })
    }

    fn all_received() -> Value {
        json!([{"sku": "WID-1", "quantity": 100}, {"sku": "GAD-2", "quantity": 10}])
    }

    fn bill(wid: (i64, f64), gad: (i64, f64)) -> Value {
        json!([{"sku": "WID-1", "quantity": wid.0, "unit_price": eur(wid.1)},
               {"sku": "GAD-2", "quantity": gad.0, "unit_price": eur(gad.1)}])
    }

    fn run(input: Value) -> Result<Value, StepError> {
        let out = alur_sdk::__private::run_json::<ThreeWayMatch>(&Context::for_test("match"), &input.to_string())?;
        Ok(serde_json::from_str(&out).unwrap())
    }

    fn statuses(out: &Value) -> Vec<(String, String)> {
        out["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["sku"].as_str().unwrap().into(), l["status"].as_str().unwrap().into()))
            .collect()
    }

    #[test]
    fn exact_bill_matches() {
        reset();
        let out = run(docs(all_received(), bill((100, 2.5), (10, 40.0)))).unwrap();
        assert_eq!(out["matched"], true);
        assert_eq!(
            (out["expected_total"].as_i64(), out["billed_total"].as_i64(), out["variance"].as_i64()),
            (Some(65000), Some(65000), Some(0))
        );
        assert_eq!(
            out["lines"][0],
            json!({"sku": "WID-1", "status": "matched", "ordered": 100, "received": 100, "billed": 100,
                   "po_unit_price": 250, "bill_unit_price": 250, "expected_amount": 25000, "billed_amount": 25000,
                   "amount_variance": 0})
        );
        assert_eq!(out["reasons"], json!([]));
        assert_eq!(
            (out["bill_id"].as_str(), out["goods_receipt_id"].as_str(), out["currency"].as_str()),
            (Some("BILL-1"), Some("GR-1"), Some("EUR"))
        );
    }

    #[test]
    fn price_off_the_po_is_a_price_mismatch() {
        reset();
        let out = run(docs(all_received(), bill((100, 2.6), (10, 40.0)))).unwrap();
        assert_eq!(out["matched"], false);
        assert_eq!(statuses(&out)[0], ("WID-1".into(), "price-mismatch".into()));
        assert_eq!(out["variance"], 1000);
        assert_eq!(out["lines"][0]["amount_variance"], 1000);
    }

    #[test]
    fn tolerances_are_inclusive_and_exact() {
        reset();
        set_config("price_tolerance_pct", "4");
        set_config("amount_tolerance", "1000");
        // 2.60 is exactly 4 % above 2.50, and the total is exactly 10.00 off.
        let out = run(docs(all_received(), bill((100, 2.6), (10, 40.0)))).unwrap();
        assert_eq!(out["matched"], true, "{out}");
        // One more cent on a unit is beyond 4 %.
        let out = run(docs(all_received(), bill((100, 2.61), (10, 40.0)))).unwrap();
        assert_eq!(statuses(&out)[0].1, "price-mismatch");
        // Within 4 % per line but over the amount tolerance in total.
        set_config("amount_tolerance", "999");
        let out = run(docs(all_received(), bill((100, 2.6), (10, 40.0)))).unwrap();
        assert_eq!((out["matched"].as_bool(), statuses(&out)[0].1.as_str()), (Some(false), "matched"));
        assert!(out["reasons"][0].as_str().unwrap().contains("off by 1000"), "{out}");
    }

    #[test]
    fn billing_more_than_received_is_a_qty_mismatch_unless_tolerated() {
        reset();
        let short = json!([{"sku": "WID-1", "quantity": 98}, {"sku": "GAD-2", "quantity": 10}]);
        let out = run(docs(short.clone(), bill((100, 2.5), (10, 40.0)))).unwrap();
        assert_eq!(statuses(&out)[0].1, "qty-mismatch");
        assert_eq!((out["expected_total"].as_i64(), out["variance"].as_i64()), (Some(64500), Some(500)));
        set_config("qty_tolerance_pct", "2.5");
        set_config("amount_tolerance", "500");
        assert_eq!(run(docs(short, bill((100, 2.5), (10, 40.0)))).unwrap()["matched"], true);
        // Over-billing beyond what was ordered fails even when received agrees.
        let over = json!([{"sku": "WID-1", "quantity": 110}, {"sku": "GAD-2", "quantity": 10}]);
        let out = run(docs(over, bill((110, 2.5), (10, 40.0)))).unwrap();
        assert_eq!(statuses(&out)[0].1, "qty-mismatch");
        // Wrong in quantity and price at once reports the quantity.
        let out = run(docs(all_received(), bill((50, 9.0), (10, 40.0)))).unwrap();
        assert_eq!(statuses(&out)[0].1, "qty-mismatch");
        assert_eq!(out["reasons"].as_array().unwrap().len(), 3, "{out}");
    }

    #[test]
    fn lines_missing_from_a_document() {
        reset();
        let billed = json!([{"sku": "WID-1", "quantity": 100, "unit_price": eur(2.5)},
                            {"sku": "EXTRA", "quantity": 1, "unit_price": eur(5.0)}]);
        let out = run(docs(all_received(), billed)).unwrap();
        assert_eq!(
            statuses(&out),
            vec![
                ("WID-1".into(), "matched".into()),
                ("GAD-2".into(), "missing".into()),
                ("EXTRA".into(), "missing".into())
            ]
        );
        assert_eq!(out["lines"][1]["missing_from"], json!(["bill"]));
        assert_eq!(out["lines"][2]["missing_from"], json!(["purchase_order", "goods_receipt"]));
        assert_eq!(out["matched"], false);
    }

    #[test]
    fn po_lines_not_delivered_yet_stay_open() {
        reset();
        let received = json!([{"sku": "WID-1", "quantity": 60}, {"sku": "WID-1", "quantity": 40}]);
        let billed = json!([{"sku": "WID-1", "quantity": 100, "unit_price": eur(2.5)}]);
        let out = run(docs(received, billed)).unwrap();
        assert_eq!(out["matched"], true, "{out}");
        assert_eq!(out["open_lines"], json!([{"sku": "GAD-2", "ordered": 10}]));
        assert_eq!(out["lines"][0]["received"], 100);
    }

    #[test]
    fn a_bill_from_another_supplier_is_refused() {
        reset();
        let mut input = docs(all_received(), bill((100, 2.5), (10, 40.0)));
        input["bill"]["supplier_id"] = json!("SUP-9");
        let err = run(input).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Business, "supplier-mismatch"));
    }

    #[test]
    fn bad_input_is_invalid_input() {
        reset();
        let mut no_cost = docs(all_received(), bill((100, 2.5), (10, 40.0)));
        no_cost["purchase_order"]["lines"][0].as_object_mut().unwrap().remove("unit_cost");
        let usd = json!([{"sku": "WID-1", "quantity": 100, "unit_price": {"amount": 2.5, "currency": "USD"}}]);
        let two_prices = json!([{"sku": "WID-1", "quantity": 50, "unit_price": eur(2.5)},
                                {"sku": "WID-1", "quantity": 50, "unit_price": eur(2.4)}]);
        for (bad, code) in [
            (docs(all_received(), json!([])), "empty-bill"),
            (no_cost, "missing-price"),
            (docs(all_received(), usd), "currency-mismatch"),
            (docs(all_received(), two_prices), "inconsistent-price"),
            (docs(all_received(), bill((100, 2.555), (10, 40.0))), "invalid-amount"),
            (docs(all_received(), bill((-1, 2.5), (10, 40.0))), "invalid-quantity"),
            (docs(json!([{"sku": "", "quantity": 1}]), bill((100, 2.5), (10, 40.0))), "missing-sku"),
            (docs(all_received(), bill((i64::MAX, 2.5), (10, 40.0))), "invalid-amount"),
            (json!({"purchase_order": {"id": "PO-1", "supplier_id": "S"}, "bill": {"lines": []}}), "invalid-input"),
        ] {
            let err = run(bad.clone()).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::InvalidInput, code), "{bad}");
        }
    }

    #[test]
    fn bad_tolerances_are_internal_errors() {
        for (key, value) in [("qty_tolerance_pct", "-1"), ("price_tolerance_pct", "lots"), ("amount_tolerance", "-5")] {
            reset();
            set_config(key, value);
            let err = run(docs(all_received(), bill((100, 2.5), (10, 40.0)))).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-config"), "{key}");
        }
        assert_eq!((parse_pct("2.5"), parse_pct("0.0001"), parse_pct("2.50001")), (Some(25_000), Some(1), None));
        assert!(within(102, 100, 20_000) && !within(103, 100, 20_000) && within(0, 0, 0) && !within(1, 0, 1_000_000));
    }
}
