//! # scm-invoice: invoice what was shipped
//!
//! Builds the invoice for the shipped lines of an order: net per line (`quantity × unit price`), tax at the
//! destination country's rate, the total, a number from a gapless per-year sequence, and the due date from
//! the payment terms. All money is in integer minor units; the tax is the only amount that needs rounding,
//! and it is rounded half to even (banker's rounding) on the minor unit, so that rounding errors do not
//! accumulate in one direction over many invoices.
//!
//! ## Input
//!
//! ```json
//! {"order": Order, "shipments": [Shipment], "invoice_date": "2025-03-31", "payment_terms"?: "net-14"}
//! ```
//!
//! The invoiced lines are the shipments' lines (as `scm-shipment-plan` makes them). A line's price is its own
//! `unit_price`, or else that of the order line with the same `line_id` (or, without ids, the same SKU).
//! Lines of the same order line shipped in several parcels become one invoice line. The tax country is the
//! order's `shipping_address.country` (goods are taxed where they are delivered), else its
//! `billing_address.country`. `invoice_date` is an ISO date (a timestamp's date part is taken): the step
//! reads no clock, so that a replayed step gives the same invoice.
//!
//! ## Config
//!
//! | key                | default  | meaning                                                                        |
//! |--------------------|----------|--------------------------------------------------------------------------------|
//! | `tax_rates`        | `{}`     | JSON object from country code to tax rate in percent, as a decimal string or number (`{"DE": "19", "CH": "8.1"}`) |
//! | `default_tax_rate` | none     | rate for a country `tax_rates` does not list; without it such a country is refused |
//! | `payment_terms`    | `net-30` | terms when the input gives none: `net-<days>` or `due-on-receipt`              |
//! | `number_prefix`    | `INV-`   | invoice numbers read `<prefix><year>-<sequence>`                                |
//! | `number_digits`    | `6`      | zero-padded width of the sequence                                               |
//!
//! ## State
//!
//! `sequence/<prefix><year>`: the last invoice number issued that year. It advances only when the step
//! completes (the engine commits kv writes with the completion), so a failed or retried attempt leaves no gap.
//! Two invoice steps running at the same moment can both read the same last number, though: the runtime does
//! not (yet) serialize or version concurrent writes to one plugin's kv scope, so numbers are unique only while
//! invoices of one prefix are drawn one at a time.
//!
//! ## Output
//!
//! ```json
//! {"invoice_number": "INV-2025-000001", "order_id": "SO-1", "customer_id": "ACC-1",
//!  "invoice_date": "2025-03-31", "due_date": "2025-04-30", "payment_terms_days": 30,
//!  "currency": "EUR", "country": "DE", "tax_rate": "19",
//!  "lines": [{"line_id": "L1", "sku": "WID-1", "quantity": 4, "unit_price": 1999, "net": 7996}],
//!  "net_total": 7996, "tax": 1519, "total": 9515, "shipment_ids": ["SO-1-S1"]}
//! ```
//!
//! ## Errors
//!
//! - `business` `unknown-tax-country`: no rate for the country and no `default_tax_rate`.
//! - `invalid_input`: `nothing-to-invoice`, `missing-price`, `invalid-amount` (sub-minor digits, negative, or
//!   overflowing), `currency-mismatch`, `over-shipped` (more shipped than ordered), `missing-country`,
//!   `invalid-date`, `invalid-terms`, `invalid-quantity`, `invalid-input` (the JSON does not fit).
//! - `internal` `invalid-config` (a malformed rate, terms or number format) / `invalid-state` (the sequence).

use alur_sdk::records::scm::{Money, Order, OrderLine, Shipment};
use alur_sdk::{Context, Step, StepError, config, kv, log};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Rates are kept as percent × 10^4 (four decimals of a percent), so `"8.1"` is 81000.
const RATE_SCALE: i128 = 10_000;

/// The step's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The order invoiced.
    pub order: Order,
    /// What shipped.
    pub shipments: Vec<Shipment>,
    /// The invoice date, `YYYY-MM-DD`.
    pub invoice_date: String,
    /// Payment terms; the `payment_terms` config when absent.
    #[serde(default)]
    pub payment_terms: Option<String>,
    /// The customer billed; the order's `account_id` when absent.
    #[serde(default)]
    pub customer_id: Option<String>,
}

/// One invoice line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// The order line's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_id: Option<String>,
    /// The SKU.
    pub sku: String,
    /// Line text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Units invoiced.
    pub quantity: i64,
    /// Price of one unit, minor units.
    pub unit_price: i64,
    /// `quantity × unit_price`.
    pub net: i64,
}

/// The invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// `<prefix><year>-<sequence>`.
    pub invoice_number: String,
    /// The order.
    pub order_id: String,
    /// The customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// `YYYY-MM-DD`.
    pub invoice_date: String,
    /// `YYYY-MM-DD`.
    pub due_date: String,
    /// Days from invoice to due date.
    pub payment_terms_days: u32,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// The tax country.
    pub country: String,
    /// Tax rate in percent, as a decimal string.
    pub tax_rate: String,
    /// The lines.
    pub lines: Vec<InvoiceLine>,
    /// Sum of the lines' net.
    pub net_total: i64,
    /// Tax on `net_total`, rounded half to even.
    pub tax: i64,
    /// `net_total + tax`.
    pub total: i64,
    /// The shipments invoiced.
    pub shipment_ids: Vec<String>,
}

/// Parses a non-negative decimal percent with at most four decimals (`"19"`, `"7.7"`, `"8.125"`) into
/// percent × 10^4; `None` for anything else or above 100 %.
pub fn parse_rate(text: &str) -> Option<i128> {
    let text = text.trim().trim_end_matches('%').trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || whole.len() > 3 || frac.len() > 4 {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i128 = whole.parse().ok()?;
    let frac: i128 = if frac.is_empty() { 0 } else { format!("{frac:0<4}").parse().ok()? };
    let rate = whole * RATE_SCALE + frac;
    (rate <= 100 * RATE_SCALE).then_some(rate)
}

/// The rate as the shortest decimal string (`81000` → `"8.1"`).
pub fn format_rate(rate: i128) -> String {
    let (whole, frac) = (rate / RATE_SCALE, rate % RATE_SCALE);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:04}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// `numerator / denominator` rounded half to even (`denominator > 0`).
pub fn div_half_even(numerator: i128, denominator: i128) -> i128 {
    let (q, r) = (numerator.div_euclid(denominator), numerator.rem_euclid(denominator));
    // div_euclid floors, so the remainder is in [0, d): compare it with d/2 without dividing.
    match (2 * r).cmp(&denominator) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// Tax on `net` minor units at `rate` (percent × 10^4).
pub fn tax_on(net: i64, rate: i128) -> i64 {
    div_half_even(net as i128 * rate, 100 * RATE_SCALE) as i64
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian), after Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// Parses `YYYY-MM-DD` (or the date part of an RFC 3339 timestamp) into (year, day count).
pub fn parse_date(text: &str) -> Option<(i64, i64)> {
    let text = text.trim();
    let date = match text.get(10..11) {
        Some("T") | Some(" ") => text.get(..10)?,
        _ => text,
    };
    let bytes = date.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let num = |s: &str| s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse::<i64>().ok()).flatten();
    let (y, m, d) = (num(&date[..4])?, num(&date[5..7])?, num(&date[8..])?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month[(m - 1) as usize] {
        return None;
    }
    Some((y, days_from_civil(y, m, d)))
}

fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses payment terms into days: `net-30`, `NET 30`, `net30`, `30`, `due-on-receipt`.
pub fn parse_terms(text: &str) -> Option<u32> {
    let norm: String = text.trim().to_ascii_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    if matches!(norm.as_str(), "dueonreceipt" | "immediate" | "cod") {
        return Some(0);
    }
    let days = norm.strip_prefix("net").unwrap_or(&norm);
    if days.is_empty() || !days.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    days.parse::<u32>().ok().filter(|d| *d <= 365)
}

fn invalid(code: &str, message: String) -> StepError {
    StepError::invalid_input(code, message)
}

fn minor(money: &Money, what: &str) -> Result<(i64, String), StepError> {
    match money.to_minor_units() {
        Some(m) if m >= 0 => Ok((m, money.currency.trim().to_ascii_uppercase())),
        _ => Err(invalid(
            "invalid-amount",
            format!("{what}: {} {} is negative or not a whole number of minor units", money.amount, money.currency),
        )),
    }
}

/// The order line a shipped line belongs to: same `line_id`, else the first with the same SKU.
fn order_line<'o>(order: &'o Order, shipped: &OrderLine) -> Option<&'o OrderLine> {
    match &shipped.line_id {
        Some(id) => order.lines.iter().find(|l| l.line_id.as_ref() == Some(id)),
        None => order.lines.iter().find(|l| l.sku == shipped.sku),
    }
}

/// The invoice settings, from config.
struct Settings {
    rates: BTreeMap<String, String>,
    default_rate: Option<String>,
    terms: String,
    prefix: String,
    digits: usize,
}

impl Settings {
    fn from_config() -> Result<Self, StepError> {
        let rates: BTreeMap<String, serde_json::Value> = config::json("tax_rates")?.unwrap_or_default();
        let rates = rates
            .into_iter()
            .map(|(country, rate)| {
                let text = match rate {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(n) => n.to_string(),
                    other => {
                        return Err(StepError::internal(
                            "invalid-config",
                            format!("tax rate of {country} is {other}, not a number"),
                        ));
                    }
                };
                Ok((country.trim().to_ascii_uppercase(), text))
            })
            .collect::<Result<_, _>>()?;
        Ok(Settings {
            rates,
            default_rate: config::get("default_tax_rate"),
            terms: config::get("payment_terms").unwrap_or_else(|| "net-30".into()),
            prefix: config::get("number_prefix").unwrap_or_else(|| "INV-".into()),
            digits: config::parse::<usize>("number_digits")?.unwrap_or(6).clamp(1, 18),
        })
    }

    fn rate(&self, country: &str) -> Result<i128, StepError> {
        let text = match self.rates.get(country).or(self.default_rate.as_ref()) {
            Some(text) => text,
            None => {
                return Err(StepError::business(
                    "unknown-tax-country",
                    format!("no tax rate is configured for country {country} and there is no default_tax_rate"),
                ));
            }
        };
        parse_rate(text).ok_or_else(|| {
            StepError::internal("invalid-config", format!("tax rate {text:?} is not a percentage from 0 to 100"))
        })
    }
}

/// Builds the invoice (without drawing its number).
fn build(input: &Input, settings: &Settings) -> Result<(Invoice, i64), StepError> {
    let order = &input.order;
    let (year, invoice_day) = parse_date(&input.invoice_date).ok_or_else(|| {
        invalid("invalid-date", format!("invoice_date {:?} is not a YYYY-MM-DD date", input.invoice_date))
    })?;
    let terms_days = match &input.payment_terms {
        Some(t) => {
            parse_terms(t).ok_or_else(|| invalid("invalid-terms", format!("payment terms {t:?} not understood")))?
        }
        None => parse_terms(&settings.terms).ok_or_else(|| {
            StepError::internal("invalid-config", format!("payment_terms {:?} not understood", settings.terms))
        })?,
    };
    let country = [&order.shipping_address, &order.billing_address]
        .into_iter()
        .filter_map(|a| a.as_ref().and_then(|a| a.country.as_deref()))
        .map(|c| c.trim().to_ascii_uppercase())
        .find(|c| !c.is_empty())
        .ok_or_else(|| invalid("missing-country", format!("order {} has no shipping or billing country", order.id)))?;

    // Invoice lines keyed by order line, in first-shipped order.
    let mut lines: Vec<InvoiceLine> = Vec::new();
    let mut currency: Option<String> = None;
    for shipment in &input.shipments {
        if shipment.order_id.as_ref().is_some_and(|id| *id != order.id) {
            return Err(invalid("over-shipped", format!("shipment {} belongs to another order", shipment.id)));
        }
        for shipped in &shipment.lines {
            if shipped.quantity <= 0 {
                return Err(invalid(
                    "invalid-quantity",
                    format!("shipment {} ships {} × {}", shipment.id, shipped.quantity, shipped.sku),
                ));
            }
            let ordered = order_line(order, shipped);
            let price =
                shipped.unit_price.as_ref().or(ordered.and_then(|l| l.unit_price.as_ref())).ok_or_else(|| {
                    invalid("missing-price", format!("no unit price for {} in shipment {}", shipped.sku, shipment.id))
                })?;
            let (unit, cur) = minor(price, &format!("unit price of {}", shipped.sku))?;
            match &currency {
                None => currency = Some(cur),
                Some(c) if *c != cur => {
                    return Err(invalid("currency-mismatch", format!("the invoice mixes {c} and {cur}")));
                }
                Some(_) => {}
            }
            let line_id = shipped.line_id.clone().or_else(|| ordered.and_then(|l| l.line_id.clone()));
            let same = |l: &&mut InvoiceLine| l.line_id == line_id && l.sku == shipped.sku && l.unit_price == unit;
            let overflow = || invalid("invalid-amount", format!("the amount of {} overflows", shipped.sku));
            match lines.iter_mut().find(same) {
                Some(line) => {
                    line.quantity = line.quantity.checked_add(shipped.quantity).ok_or_else(overflow)?;
                    line.net = line.quantity.checked_mul(unit).ok_or_else(overflow)?;
                }
                None => lines.push(InvoiceLine {
                    line_id,
                    sku: shipped.sku.clone(),
                    description: shipped.description.clone().or_else(|| ordered.and_then(|l| l.description.clone())),
                    quantity: shipped.quantity,
                    unit_price: unit,
                    net: shipped.quantity.checked_mul(unit).ok_or_else(overflow)?,
                }),
            }
        }
    }
    if lines.is_empty() {
        return Err(invalid("nothing-to-invoice", format!("no shipped lines to invoice for order {}", order.id)));
    }
    // Never bill more than was ordered: per order line when the lines carry ids, else per SKU.
    let mut shipped_by: BTreeMap<(Option<&str>, &str), i64> = BTreeMap::new();
    for l in &lines {
        *shipped_by.entry((l.line_id.as_deref(), l.sku.as_str())).or_default() += l.quantity;
    }
    for ((line_id, sku), shipped) in shipped_by {
        let ordered: i64 = order
            .lines
            .iter()
            .filter(|l| l.sku == sku && (line_id.is_none() || l.line_id.as_deref() == line_id))
            .map(|l| l.quantity)
            .sum();
        if shipped > ordered {
            return Err(invalid("over-shipped", format!("{shipped} × {sku} invoiced but {ordered} ordered")));
        }
    }
    let net_total = lines
        .iter()
        .try_fold(0i64, |acc, l| acc.checked_add(l.net))
        .ok_or_else(|| invalid("invalid-amount", "the net total overflows".into()))?;
    let rate = settings.rate(&country)?;
    let tax = tax_on(net_total, rate);
    let total = net_total.checked_add(tax).ok_or_else(|| invalid("invalid-amount", "the total overflows".into()))?;
    let invoice = Invoice {
        invoice_number: String::new(),
        order_id: order.id.clone(),
        customer_id: input.customer_id.clone().or_else(|| order.account_id.clone()),
        invoice_date: format_date(invoice_day),
        due_date: format_date(invoice_day + i64::from(terms_days)),
        payment_terms_days: terms_days,
        currency: currency.unwrap_or_default(),
        country,
        tax_rate: format_rate(rate),
        lines,
        net_total,
        tax,
        total,
        shipment_ids: input.shipments.iter().filter(|s| !s.lines.is_empty()).map(|s| s.id.clone()).collect(),
    };
    Ok((invoice, year))
}

/// Builds the invoice and draws its number from the year's sequence.
pub fn invoice(input: &Input) -> Result<Invoice, StepError> {
    let settings = Settings::from_config()?;
    let (mut invoice, year) = build(input, &settings)?;
    let key = format!("sequence/{}{year}", settings.prefix);
    if key.len() > 512 {
        return Err(StepError::internal("invalid-config", "number_prefix is too long for a kv key"));
    }
    let next = kv::get::<u64>(&key)?.unwrap_or(0) + 1;
    kv::set(&key, &next)?;
    invoice.invoice_number = format!("{}{year}-{next:0width$}", settings.prefix, width = settings.digits);
    Ok(invoice)
}

/// The invoice step.
pub struct InvoiceStep;

impl Step for InvoiceStep {
    type Input = Input;
    type Output = Invoice;

    fn run(_ctx: &Context, input: Input) -> Result<Invoice, StepError> {
        let out = invoice(&input)?;
        log::info(&format!(
            "order {}: invoice {} over {} {}",
            out.order_id, out.invoice_number, out.total, out.currency
        ));
        Ok(out)
    }
}

alur_sdk::export_step!(InvoiceStep);

#[cfg(test)]
mod tests {
    use super::*;
    use alur_sdk::ErrorKind;
    use alur_sdk::testing::{reset, set_config};
    use serde_json::{Value, json};

    fn setup() {
        reset();
        set_config("tax_rates", r#"{"DE": "19", "CH": 8.1, "at": "20", "US": "0"}"#);
    }

    fn eur(amount: f64) -> Value {
        json!({"amount": amount, "currency": "EUR"})
    }

    fn input(country: &str, shipments: Value) -> Value {
        json!({
            "order": {"id": "SO-1", "account_id": "ACC-1", "shipping_address": {"country": country},
                      "lines": [{"line_id": "L1", "sku": "WID-1", "description": "Widget", "quantity": 4, "unit_price": eur(19.99)},
                                {"line_id": "L2", "sku": "GAD-2", "quantity": 2, "unit_price": eur(5.0)}]},
            "shipments": shipments,
            "invoice_date": "2025-03-31"
        })
    }

    fn one_parcel() -> Value {
        json!([{"id": "SO-1-S1", "order_id": "SO-1", "lines": [
            {"line_id": "L1", "sku": "WID-1", "quantity": 4}, {"line_id": "L2", "sku": "GAD-2", "quantity": 1}]}])
    }

    fn run(input: Value) -> Result<Value, StepError> {
        let out = alur_sdk::__private::run_json::<InvoiceStep>(&Context::for_test("invoice"), &input.to_string())?;
        Ok(serde_json::from_str(&out).unwrap())
    }

    #[test]
    fn invoice_of_shipped_lines_with_tax_and_due_date() {
        setup();
        let out = run(input("DE", one_parcel())).unwrap();
        assert_eq!(
            out,
            json!({
                "invoice_number": "INV-2025-000001", "order_id": "SO-1", "customer_id": "ACC-1",
                "invoice_date": "2025-03-31", "due_date": "2025-04-30", "payment_terms_days": 30,
                "currency": "EUR", "country": "DE", "tax_rate": "19",
                "lines": [{"line_id": "L1", "sku": "WID-1", "description": "Widget", "quantity": 4, "unit_price": 1999, "net": 7996},
                          {"line_id": "L2", "sku": "GAD-2", "quantity": 1, "unit_price": 500, "net": 500}],
                // 8496 × 19 % = 1614.24 → 1614
                "net_total": 8496, "tax": 1614, "total": 10110, "shipment_ids": ["SO-1-S1"]
            })
        );
    }

    #[test]
    fn tax_rounds_half_to_even() {
        assert_eq!(div_half_even(25, 10), 2);
        assert_eq!(div_half_even(35, 10), 4);
        assert_eq!(div_half_even(26, 10), 3);
        assert_eq!(div_half_even(-25, 10), -2);
        assert_eq!(div_half_even(-26, 10), -3);
        let nineteen = parse_rate("19").unwrap();
        // 50 × 19 % = 9.5 → 10 (even); 150 × 19 % = 28.5 → 28 (even); 250 × 19 % = 47.5 → 48.
        assert_eq!((tax_on(50, nineteen), tax_on(150, nineteen), tax_on(250, nineteen)), (10, 28, 48));
        // 10 × 5 % = 0.5 → 0, and 30 × 5 % = 1.5 → 2: half-up would give 1 and 2.
        let five = parse_rate("5").unwrap();
        assert_eq!((tax_on(10, five), tax_on(30, five)), (0, 2));

        setup();
        set_config("tax_rates", r#"{"DE": "5"}"#);
        let order =
            json!([{"id": "S1", "lines": [{"line_id": "L1", "sku": "WID-1", "quantity": 1, "unit_price": eur(0.10)}]}]);
        assert_eq!(run(input("DE", order)).unwrap()["tax"], 0);
    }

    #[test]
    fn rates_parse_exactly() {
        assert_eq!(parse_rate("8.1"), Some(81_000));
        assert_eq!(parse_rate("7.7%"), Some(77_000));
        assert_eq!(parse_rate("0"), Some(0));
        assert_eq!(parse_rate("100"), Some(1_000_000));
        for bad in ["", "-1", "100.01", "abc", "1.23456", "1e2", ".5"] {
            assert_eq!(parse_rate(bad), None, "{bad}");
        }
        assert_eq!(
            (format_rate(81_000), format_rate(190_000), format_rate(81_250)),
            ("8.1".into(), "19".into(), "8.125".into())
        );
        setup();
        let out = run(input("CH", one_parcel())).unwrap();
        // 8496 × 8.1 % = 688.176 → 688
        assert_eq!((out["tax_rate"].as_str(), out["tax"].as_i64()), (Some("8.1"), Some(688)));
    }

    #[test]
    fn unknown_tax_country_is_refused_unless_a_default_is_set() {
        setup();
        let err = run(input("ZZ", one_parcel())).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Business, "unknown-tax-country"));
        assert!(alur_sdk::testing::snapshot().kv.is_empty(), "a refused invoice draws no number");
        set_config("default_tax_rate", "10");
        assert_eq!(run(input("ZZ", one_parcel())).unwrap()["tax"], 850);
        // Lower-case codes in config and order match.
        assert_eq!(run(input("at", one_parcel())).unwrap()["tax_rate"], "20");
    }

    #[test]
    fn numbers_come_from_a_per_year_sequence() {
        setup();
        set_config("number_prefix", "RE-");
        set_config("number_digits", "4");
        let numbers: Vec<String> = (0..3)
            .map(|_| run(input("DE", one_parcel())).unwrap()["invoice_number"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(numbers, ["RE-2025-0001", "RE-2025-0002", "RE-2025-0003"]);
        let mut next_year = input("DE", one_parcel());
        next_year["invoice_date"] = json!("2026-01-02T09:30:00Z");
        assert_eq!(run(next_year).unwrap()["invoice_number"], "RE-2026-0001");
        assert_eq!(kv::get::<u64>("sequence/RE-2025").unwrap(), Some(3));
    }

    #[test]
    fn payment_terms_set_the_due_date() {
        setup();
        for (terms, due, days) in [
            ("net-14", "2025-04-14", 14),
            ("NET 60", "2025-05-30", 60),
            ("due on receipt", "2025-03-31", 0),
            ("335", "2026-03-01", 335),
        ] {
            let mut i = input("DE", one_parcel());
            i["payment_terms"] = json!(terms);
            let out = run(i).unwrap();
            assert_eq!(
                (out["due_date"].as_str(), out["payment_terms_days"].as_u64()),
                (Some(due), Some(days)),
                "{terms}"
            );
        }
        // Leap years: 2024-02-28 + 1 day is the 29th.
        set_config("payment_terms", "net1");
        let mut leap = input("DE", one_parcel());
        leap["invoice_date"] = json!("2024-02-28");
        assert_eq!(run(leap).unwrap()["due_date"], "2024-02-29");
        assert_eq!(parse_date("2023-02-29"), None);
        for day in (-719_000..2_900_000).step_by(97) {
            let text = format_date(day);
            assert_eq!(parse_date(&text).map(|(_, d)| d), Some(day), "{text}");
        }
        assert_eq!(parse_date("2024-13-01"), None);
    }

    #[test]
    fn parcels_of_one_line_merge_and_prices_come_from_the_order() {
        setup();
        let parcels = json!([
            {"id": "SO-1-S1", "lines": [{"line_id": "L1", "sku": "WID-1", "quantity": 3}]},
            {"id": "SO-1-S2", "lines": [{"line_id": "L1", "sku": "WID-1", "quantity": 1}, {"sku": "GAD-2", "quantity": 2}]},
            {"id": "SO-1-S3", "lines": []}
        ]);
        let out = run(input("US", parcels)).unwrap();
        assert_eq!(
            out["lines"],
            json!([{"line_id": "L1", "sku": "WID-1", "description": "Widget", "quantity": 4, "unit_price": 1999, "net": 7996},
                   {"line_id": "L2", "sku": "GAD-2", "quantity": 2, "unit_price": 500, "net": 1000}])
        );
        assert_eq!((out["tax"].as_i64(), out["total"].as_i64()), (Some(0), Some(8996)));
        assert_eq!(out["shipment_ids"], json!(["SO-1-S1", "SO-1-S2"]));
    }

    #[test]
    fn bad_input_is_invalid_input() {
        setup();
        let ship = |lines: Value| json!([{"id": "S1", "lines": lines}]);
        let mut no_country = input("DE", one_parcel());
        no_country["order"]["shipping_address"] = json!({});
        let mut bad_date = input("DE", one_parcel());
        bad_date["invoice_date"] = json!("31.03.2025");
        let mut bad_terms = input("DE", one_parcel());
        bad_terms["payment_terms"] = json!("when convenient");
        let mut other_order = input("DE", one_parcel());
        other_order["shipments"][0]["order_id"] = json!("SO-9");
        for (bad, code) in [
            (input("DE", json!([])), "nothing-to-invoice"),
            (input("DE", ship(json!([{"sku": "NOPE", "quantity": 1}]))), "missing-price"),
            (input("DE", ship(json!([{"line_id": "L1", "sku": "WID-1", "quantity": 5}]))), "over-shipped"),
            (input("DE", ship(json!([{"line_id": "L1", "sku": "WID-1", "quantity": 0}]))), "invalid-quantity"),
            (input("DE", ship(json!([{"sku": "X", "quantity": 1, "unit_price": eur(0.005)}]))), "invalid-amount"),
            (input("DE", ship(json!([{"sku": "X", "quantity": 1, "unit_price": eur(-1.0)}]))), "invalid-amount"),
            (
                input(
                    "DE",
                    ship(
                        json!([{"line_id": "L1", "sku": "WID-1", "quantity": 1}, {"sku": "X", "quantity": 1, "unit_price": {"amount": 1, "currency": "USD"}}]),
                    ),
                ),
                "currency-mismatch",
            ),
            (no_country, "missing-country"),
            (bad_date, "invalid-date"),
            (bad_terms, "invalid-terms"),
            (other_order, "over-shipped"),
            (json!({"order": {"id": "SO-1"}, "shipments": []}), "invalid-input"),
        ] {
            let err = run(bad.clone()).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::InvalidInput, code), "{bad}");
        }
    }

    #[test]
    fn bad_config_is_an_internal_error() {
        for (key, value) in [
            ("tax_rates", r#"{"DE": "nineteen"}"#),
            ("tax_rates", r#"{"DE": [19]}"#),
            ("payment_terms", "soon"),
            ("number_digits", "x"),
        ] {
            setup();
            set_config(key, value);
            let err = run(input("DE", one_parcel())).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-config"), "{key}={value}");
        }
        setup();
        kv::set("sequence/INV-2025", &"seven").unwrap();
        assert_eq!(run(input("DE", one_parcel())).unwrap_err().code, "invalid-state");
    }
}
