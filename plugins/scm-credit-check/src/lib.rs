//! # scm-credit-check: may this customer place this order on credit?
//!
//! The customer's exposure after the order is its open balance (invoiced, not yet paid) plus the order total.
//! The order passes when the exposure stays within the customer's credit limit and the account is not on
//! credit hold. All money is in integer minor units of the account's currency (cents for `EUR`).
//!
//! ## Input
//!
//! `{"order": Order, "customer_id"?: "ACC-1"}`: an [`Order`] record. The customer is `customer_id`, or the
//! order's `account_id` when `customer_id` is absent. The order total is the sum of `quantity × unit_price`
//! over its lines when every line has a price, else the order's `total`.
//!
//! ```json
//! {"order": {"id": "SO-1", "account_id": "ACC-1",
//!            "lines": [{"sku": "WID-1", "quantity": 4, "unit_price": {"amount": 19.99, "currency": "EUR"}}]}}
//! ```
//!
//! ## Config
//!
//! | key             | default | meaning                                                                              |
//! |-----------------|---------|--------------------------------------------------------------------------------------|
//! | `customers`     | none    | JSON object from customer id to its [`CreditAccount`], e.g. `{"ACC-1": {"limit": 500000, "balance": 120000, "currency": "EUR"}}` |
//! | `default_limit` | none    | credit limit (minor units) of a customer neither `customers` nor the kv state knows   |
//! | `currency`      | `EUR`   | currency of `default_limit`, and of an account that names none                       |
//!
//! Without `customers` the step reads the plugin's key-value state: key `customer/<id>` holding a
//! [`CreditAccount`] as JSON (written by whatever syncs the ledger from the ERP). With `customers` set, the
//! key-value state is not read.
//!
//! ## Output
//!
//! ```json
//! {"customer_id": "ACC-1", "approved": true, "currency": "EUR", "limit": 500000, "open_balance": 120000,
//!  "order_total": 7996, "exposure": 127996, "headroom": 372004}
//! ```
//!
//! `exposure = open_balance + order_total`, `headroom = limit - exposure` (never negative on success).
//!
//! ## Errors
//!
//! - `business` `credit-hold`: the account is on hold (checked before the limit: a held account is refused
//!   whatever the amount).
//! - `business` `credit-limit-exceeded`: the exposure would exceed the limit.
//! - `business` `unknown-customer`: no account and no `default_limit`.
//! - `invalid_input`: `missing-customer`, `empty-order`, `invalid-quantity`, `missing-price` (no line prices and
//!   no total), `invalid-amount` (an amount with sub-minor digits, or too large), `currency-mismatch` (lines, total
//!   and account in different currencies), `invalid-input` (the JSON does not fit).
//! - `internal` `invalid-config` / `invalid-state`: a `customers` table or a `customer/<id>` value that is not a
//!   [`CreditAccount`].

use alur_sdk::records::scm::{Money, Order};
use alur_sdk::{Context, Step, StepError, config, kv, log};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest customer id accepted: it becomes part of a kv key, and the host limits keys to 512 bytes.
const MAX_ID_BYTES: usize = 256;

/// The step's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The order to check.
    pub order: Order,
    /// The customer; the order's `account_id` when absent.
    #[serde(default)]
    pub customer_id: Option<String>,
}

/// A customer's credit account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditAccount {
    /// Credit limit, in minor units.
    pub limit: i64,
    /// Open (invoiced, unpaid) balance, in minor units.
    #[serde(default)]
    pub balance: i64,
    /// Whether credit is on hold (overdue invoices, dispute): every order is refused.
    #[serde(default)]
    pub hold: bool,
    /// ISO 4217 code of `limit` and `balance`; the `currency` config (default `EUR`) when absent.
    #[serde(default)]
    pub currency: Option<String>,
}

/// The step's output when the order passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// The customer checked.
    pub customer_id: String,
    /// Always `true`: a refusal is a `business` error, so that the definition routes it.
    pub approved: bool,
    /// Currency of every amount below.
    pub currency: String,
    /// Credit limit.
    pub limit: i64,
    /// Open balance before this order.
    pub open_balance: i64,
    /// This order's total.
    pub order_total: i64,
    /// Open balance plus this order.
    pub exposure: i64,
    /// Credit left after this order.
    pub headroom: i64,
}

/// Where the accounts come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Accounts {
    /// The `customers` config table.
    Config(BTreeMap<String, CreditAccount>),
    /// The `customer/<id>` keys of the plugin's key-value state.
    Kv,
}

impl Accounts {
    /// The config table when the definition sets `customers`, else the key-value state.
    pub fn from_config() -> Result<Self, StepError> {
        Ok(match config::json::<BTreeMap<String, CreditAccount>>("customers")? {
            Some(table) => Accounts::Config(table),
            None => Accounts::Kv,
        })
    }

    /// The account of `customer`, if known.
    pub fn get(&self, customer: &str) -> Result<Option<CreditAccount>, StepError> {
        match self {
            Accounts::Config(table) => Ok(table.get(customer).cloned()),
            Accounts::Kv => kv::get(&format!("customer/{customer}")),
        }
    }
}

/// An amount in minor units and its currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount {
    /// Minor units.
    pub minor: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
}

fn minor(money: &Money, what: &str) -> Result<Amount, StepError> {
    let minor = money.to_minor_units().ok_or_else(|| {
        StepError::invalid_input(
            "invalid-amount",
            format!(
                "{what} {} {} is not a whole number of minor units of its currency, or is too large",
                money.amount, money.currency
            ),
        )
    })?;
    Ok(Amount { minor, currency: money.currency.trim().to_ascii_uppercase() })
}

fn overflow(what: &str) -> StepError {
    StepError::invalid_input("invalid-amount", format!("{what} overflows"))
}

/// The order's total in minor units: the sum of its priced lines, or its `total` when a line has no price.
pub fn order_total(order: &Order) -> Result<Amount, StepError> {
    if order.lines.is_empty() {
        return Err(StepError::invalid_input("empty-order", format!("order {} has no lines", order.id)));
    }
    for (i, line) in order.lines.iter().enumerate() {
        if line.quantity <= 0 {
            return Err(StepError::invalid_input(
                "invalid-quantity",
                format!("line {} (sku {}) of order {} has quantity {}", i + 1, line.sku, order.id, line.quantity),
            ));
        }
    }
    if order.lines.iter().all(|l| l.unit_price.is_some()) {
        let mut sum: Option<Amount> = None;
        for (i, line) in order.lines.iter().enumerate() {
            let Some(price) = &line.unit_price else { continue };
            let what = format!("line {} unit price", i + 1);
            let unit = minor(price, &what)?;
            if unit.minor < 0 {
                return Err(StepError::invalid_input("invalid-amount", format!("{what} is negative")));
            }
            let net = unit.minor.checked_mul(line.quantity).ok_or_else(|| overflow(&what))?;
            sum = Some(match sum {
                None => Amount { minor: net, currency: unit.currency },
                Some(acc) if acc.currency != unit.currency => {
                    return Err(StepError::invalid_input(
                        "currency-mismatch",
                        format!("order {} mixes {} and {} on its lines", order.id, acc.currency, unit.currency),
                    ));
                }
                Some(acc) => Amount {
                    minor: acc.minor.checked_add(net).ok_or_else(|| overflow("the order total"))?,
                    currency: acc.currency,
                },
            });
        }
        if let (Some(sum), Some(total)) = (&sum, &order.total) {
            let total = minor(total, "the order total")?;
            if total.currency != sum.currency {
                return Err(StepError::invalid_input(
                    "currency-mismatch",
                    format!("order {} has lines in {} and a total in {}", order.id, sum.currency, total.currency),
                ));
            }
        }
        return sum.ok_or_else(|| StepError::internal("no-lines", "the lines vanished"));
    }
    match &order.total {
        Some(total) => {
            let total = minor(total, "the order total")?;
            if total.minor < 0 {
                return Err(StepError::invalid_input("invalid-amount", "the order total is negative"));
            }
            Ok(total)
        }
        None => Err(StepError::invalid_input(
            "missing-price",
            format!("order {} has a line without a unit price and no total", order.id),
        )),
    }
}

/// Checks `input` against the accounts.
pub fn check(input: &Input, accounts: &Accounts) -> Result<Output, StepError> {
    let customer = input.customer_id.clone().or_else(|| input.order.account_id.clone()).unwrap_or_default();
    let customer = customer.trim().to_string();
    if customer.is_empty() {
        return Err(StepError::invalid_input(
            "missing-customer",
            format!("order {} names no customer: set `customer_id` or the order's `account_id`", input.order.id),
        ));
    }
    if customer.len() > MAX_ID_BYTES {
        return Err(StepError::invalid_input("invalid-customer", format!("customer id over {MAX_ID_BYTES} bytes")));
    }
    let total = order_total(&input.order)?;
    let default_currency = config::get("currency").unwrap_or_else(|| "EUR".into()).trim().to_ascii_uppercase();
    let account = match accounts.get(&customer)? {
        Some(account) => account,
        None => match config::parse::<i64>("default_limit")? {
            Some(limit) => CreditAccount { limit, balance: 0, hold: false, currency: None },
            None => {
                return Err(StepError::business(
                    "unknown-customer",
                    format!("customer {customer} has no credit account and no default limit is configured"),
                ));
            }
        },
    };
    let currency = account.currency.as_deref().map_or(default_currency, |c| c.trim().to_ascii_uppercase());
    if account.hold {
        return Err(StepError::business("credit-hold", format!("customer {customer} is on credit hold")));
    }
    if currency != total.currency {
        return Err(StepError::invalid_input(
            "currency-mismatch",
            format!(
                "order {} is in {} but the credit account of {customer} is in {currency}",
                input.order.id, total.currency
            ),
        ));
    }
    let exposure = account.balance.checked_add(total.minor).ok_or_else(|| overflow("the exposure"))?;
    if exposure > account.limit {
        return Err(StepError::business(
            "credit-limit-exceeded",
            format!(
                "customer {customer}: open balance {} + order {} = {exposure} {currency} exceeds the limit of {} by {}",
                account.balance,
                total.minor,
                account.limit,
                exposure - account.limit
            ),
        ));
    }
    Ok(Output {
        customer_id: customer,
        approved: true,
        currency,
        limit: account.limit,
        open_balance: account.balance,
        order_total: total.minor,
        exposure,
        headroom: account.limit - exposure,
    })
}

/// The credit-check step.
pub struct CreditCheck;

impl Step for CreditCheck {
    type Input = Input;
    type Output = Output;

    fn run(_ctx: &Context, input: Input) -> Result<Output, StepError> {
        let accounts = Accounts::from_config()?;
        let out = check(&input, &accounts)?;
        log::debug(&format!(
            "order {}: customer {} approved, headroom {} {}",
            input.order.id, out.customer_id, out.headroom, out.currency
        ));
        Ok(out)
    }
}

alur_sdk::export_step!(CreditCheck);

#[cfg(test)]
mod tests {
    use super::*;
    use alur_sdk::ErrorKind;
    use alur_sdk::testing::{reset, set_config};
    use serde_json::{Value, json};

    const CUSTOMERS: &str = r#"{
        "ACC-1": {"limit": 100000, "balance": 60000, "currency": "EUR"},
        "ACC-HOLD": {"limit": 1000000, "balance": 0, "hold": true},
        "ACC-USD": {"limit": 100000, "currency": "USD"}
    }"#;

    fn run(input: Value) -> Result<Output, StepError> {
        let json = input.to_string();
        let out = alur_sdk::__private::run_json::<CreditCheck>(&Context::for_test("credit"), &json)?;
        Ok(serde_json::from_str(&out).unwrap())
    }

    fn order(account: &str, lines: Value) -> Value {
        json!({"order": {"id": "SO-1", "account_id": account, "lines": lines}})
    }

    fn priced(qty: i64, price: f64) -> Value {
        json!({"sku": "WID-1", "quantity": qty, "unit_price": {"amount": price, "currency": "EUR"}})
    }

    fn code(err: StepError) -> (ErrorKind, String) {
        (err.kind, err.code)
    }

    #[test]
    fn order_within_the_limit_is_approved_with_exact_cents() {
        reset();
        set_config("customers", CUSTOMERS);
        // 3 × 0.10 + 7 × 19.99 in floats is 140.23000000000002; in cents it is 14023.
        let out = run(order("ACC-1", json!([priced(3, 0.10), priced(7, 19.99)]))).unwrap();
        assert_eq!(
            out,
            Output {
                customer_id: "ACC-1".into(),
                approved: true,
                currency: "EUR".into(),
                limit: 100000,
                open_balance: 60000,
                order_total: 14023,
                exposure: 74023,
                headroom: 25977,
            }
        );
    }

    #[test]
    fn exposure_exactly_at_the_limit_passes_and_one_cent_more_is_refused() {
        reset();
        set_config("customers", CUSTOMERS);
        let out = run(order("ACC-1", json!([priced(1, 400.00)]))).unwrap();
        assert_eq!((out.exposure, out.headroom), (100000, 0));
        let err = run(order("ACC-1", json!([priced(1, 400.01)]))).unwrap_err();
        assert_eq!(code(err.clone()), (ErrorKind::Business, "credit-limit-exceeded".into()));
        assert!(err.message.contains("exceeds the limit of 100000 by 1"), "{}", err.message);
    }

    #[test]
    fn held_account_is_refused_whatever_the_amount() {
        reset();
        set_config("customers", CUSTOMERS);
        let err = run(order("ACC-HOLD", json!([priced(1, 0.01)]))).unwrap_err();
        assert_eq!(code(err), (ErrorKind::Business, "credit-hold".into()));
    }

    #[test]
    fn accounts_come_from_kv_without_config() {
        reset();
        kv::set("customer/ACC-7", &json!({"limit": 5000, "balance": 4000})).unwrap();
        let out = run(order("ACC-7", json!([priced(1, 10.00)]))).unwrap();
        assert_eq!((out.exposure, out.headroom, out.currency.as_str()), (5000, 0, "EUR"));
        kv::set("customer/ACC-7", &json!({"limit": 5000, "balance": 4000, "hold": true})).unwrap();
        assert_eq!(code(run(order("ACC-7", json!([priced(1, 1.0)]))).unwrap_err()).1, "credit-hold");
    }

    #[test]
    fn config_table_takes_precedence_over_kv() {
        reset();
        kv::set("customer/ACC-1", &json!({"limit": 1})).unwrap();
        set_config("customers", CUSTOMERS);
        assert!(run(order("ACC-1", json!([priced(1, 10.0)]))).is_ok());
    }

    #[test]
    fn unknown_customer_uses_the_default_limit_or_is_refused() {
        reset();
        set_config("customers", CUSTOMERS);
        let err = run(order("ACC-NEW", json!([priced(1, 10.0)]))).unwrap_err();
        assert_eq!(code(err), (ErrorKind::Business, "unknown-customer".into()));
        set_config("default_limit", "2000");
        let out = run(order("ACC-NEW", json!([priced(2, 10.0)]))).unwrap();
        assert_eq!((out.limit, out.headroom), (2000, 0));
        let err = run(order("ACC-NEW", json!([priced(3, 10.0)]))).unwrap_err();
        assert_eq!(code(err).1, "credit-limit-exceeded");
    }

    #[test]
    fn order_total_is_used_when_a_line_has_no_price() {
        reset();
        set_config("customers", CUSTOMERS);
        let input = json!({"order": {"id": "SO-2", "account_id": "ACC-1",
            "lines": [{"sku": "WID-1", "quantity": 1}], "total": {"amount": 399.99, "currency": "eur"}}});
        assert_eq!(run(input).unwrap().order_total, 39999);
        let err = run(order("ACC-1", json!([{"sku": "WID-1", "quantity": 1}]))).unwrap_err();
        assert_eq!(code(err), (ErrorKind::InvalidInput, "missing-price".into()));
    }

    #[test]
    fn customer_id_overrides_the_account_id() {
        reset();
        set_config("customers", CUSTOMERS);
        let mut input = order("ACC-HOLD", json!([priced(1, 1.0)]));
        input["customer_id"] = json!("ACC-1");
        assert_eq!(run(input).unwrap().customer_id, "ACC-1");
    }

    #[test]
    fn currencies_must_agree() {
        reset();
        set_config("customers", CUSTOMERS);
        let err = run(order("ACC-USD", json!([priced(1, 1.0)]))).unwrap_err();
        assert_eq!(code(err), (ErrorKind::InvalidInput, "currency-mismatch".into()));
        let lines =
            json!([priced(1, 1.0), {"sku": "X", "quantity": 1, "unit_price": {"amount": 1.0, "currency": "USD"}}]);
        assert_eq!(code(run(order("ACC-1", lines)).unwrap_err()).1, "currency-mismatch");
    }

    #[test]
    fn bad_input_is_invalid_input() {
        reset();
        set_config("customers", CUSTOMERS);
        for (input, expected) in [
            (order("ACC-1", json!([])), "empty-order"),
            (order("ACC-1", json!([priced(0, 1.0)])), "invalid-quantity"),
            (order("ACC-1", json!([priced(1, 0.001)])), "invalid-amount"),
            (order("ACC-1", json!([priced(1, -5.0)])), "invalid-amount"),
            (order("ACC-1", json!([priced(i64::MAX, 10.0)])), "invalid-amount"),
            (order(" ", json!([priced(1, 1.0)])), "missing-customer"),
            (json!({"order": {"id": "SO-1", "lines": [priced(1, 1.0)]}}), "missing-customer"),
            (json!({"order": {"id": "SO-1"}, "customer_id": "ACC-1"}), "empty-order"),
            (json!({"customer_id": "ACC-1"}), "invalid-input"),
            (order(&"A".repeat(300), json!([priced(1, 1.0)])), "invalid-customer"),
        ] {
            let err = run(input.clone()).unwrap_err();
            assert_eq!(code(err), (ErrorKind::InvalidInput, expected.to_string()), "{input}");
        }
    }

    #[test]
    fn malformed_accounts_are_internal_errors() {
        reset();
        set_config("customers", r#"{"ACC-1": {"balance": 3}}"#);
        assert_eq!(code(run(order("ACC-1", json!([priced(1, 1.0)]))).unwrap_err()).1, "invalid-config");
        reset();
        kv::set("customer/ACC-1", &"rich").unwrap();
        let err = run(order("ACC-1", json!([priced(1, 1.0)]))).unwrap_err();
        assert_eq!(code(err), (ErrorKind::Internal, "invalid-state".into()));
        reset();
        set_config("customers", CUSTOMERS);
        set_config("default_limit", "lots");
        assert_eq!(code(run(order("ACC-NEW", json!([priced(1, 1.0)]))).unwrap_err()).1, "invalid-config");
    }
}
