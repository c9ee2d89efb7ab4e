//! # {{name}}: an Alur step plugin in Rust
//!
//! This starting point checks a purchase request against its department's budget. The spend of each department
//! is kept in the plugin's kv state, so consecutive requests draw the budget down; the engine commits a step's kv
//! writes only when the step completes, so a failed or retried attempt spends nothing.
//!
//! ## Input
//!
//! ```json
//! {"request": {"id": "PR-1", "department": "ops", "amount_cents": 120000}}
//! ```
//!
//! ## Config
//!
//! | key                 | default   | meaning                                                |
//! |---------------------|-----------|--------------------------------------------------------|
//! | `budget_cents`      | 1000000   | what one department may spend in total                 |
//! | `review_over_cents` | 250000    | a larger request is reserved but needs a person's review |
//!
//! ## Output
//!
//! `{"request_id": "PR-1", "department": "ops", "decision": "approved" | "review", "spent_cents": 120000,
//! "remaining_cents": 880000}`: the department's spend after this request, and what is left of its budget.
//!
//! ## Errors
//!
//! - `invalid-input`: `missing-id`, `missing-department` (blank), `zero-amount`; `invalid-input` when the JSON does
//!   not fit (a negative or fractional amount, a missing field).
//! - `business` `over-budget`: the request would take the department past its budget; nothing is spent.
//! - `internal` `invalid-config`: a config value is not a whole number of cents.

use alur_sdk::{Context, Step, StepError, config, kv, log};
use serde::{Deserialize, Serialize};

/// The step's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// The request to check.
    pub request: Request,
}

/// A purchase request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The requester's reference.
    pub id: String,
    /// The department whose budget pays.
    pub department: String,
    /// The amount, in cents of the budget's currency.
    pub amount_cents: u64,
}

/// What the step decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Within budget and under the review threshold.
    Approved,
    /// Within budget, reserved, over the review threshold.
    Review,
}

/// The step's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// The request's id.
    pub request_id: String,
    /// The department, trimmed.
    pub department: String,
    /// The decision.
    pub decision: Decision,
    /// The department's spend including this request.
    pub spent_cents: u64,
    /// What is left of the department's budget.
    pub remaining_cents: u64,
}

const DEFAULT_BUDGET_CENTS: u64 = 1_000_000;
const DEFAULT_REVIEW_OVER_CENTS: u64 = 250_000;

/// The step.
pub struct BudgetCheck;

impl Step for BudgetCheck {
    type Input = Input;
    type Output = Output;

    fn run(ctx: &Context, input: Input) -> Result<Output, StepError> {
        let request = input.request;
        let id = request.id.trim();
        if id.is_empty() {
            return Err(StepError::invalid_input("missing-id", "request.id must not be blank"));
        }
        let department = request.department.trim();
        if department.is_empty() {
            return Err(StepError::invalid_input("missing-department", "request.department must not be blank"));
        }
        if request.amount_cents == 0 {
            return Err(StepError::invalid_input("zero-amount", format!("request {id} is for 0 cents")));
        }
        let budget: u64 = config::parse("budget_cents")?.unwrap_or(DEFAULT_BUDGET_CENTS);
        let review_over: u64 = config::parse("review_over_cents")?.unwrap_or(DEFAULT_REVIEW_OVER_CENTS);

        let key = format!("spent/{department}");
        let spent: u64 = kv::get(&key)?.unwrap_or(0);
        let after = spent.saturating_add(request.amount_cents);
        if after > budget {
            return Err(StepError::business(
                "over-budget",
                format!(
                    "request {id} for {} cents would take {department} to {after} of its {budget} cents budget",
                    request.amount_cents
                ),
            ));
        }
        kv::set(&key, &after)?;
        let decision = if request.amount_cents > review_over { Decision::Review } else { Decision::Approved };
        log::info(&format!("{id}: {decision:?} for {department}, {after}/{budget} spent (attempt {})", ctx.attempt));
        Ok(Output {
            request_id: id.to_string(),
            department: department.to_string(),
            decision,
            spent_cents: after,
            remaining_cents: budget - after,
        })
    }
}

alur_sdk::export_step!(BudgetCheck);

#[cfg(test)]
mod tests {
    use super::*;
    use alur_sdk::ErrorKind;
    use alur_sdk::testing::{reset, set_config, snapshot};
    use serde_json::json;

    fn run(request: serde_json::Value) -> Result<Output, StepError> {
        let input: Input = serde_json::from_value(json!({ "request": request })).expect("the input fits");
        BudgetCheck::run(&Context::for_test("budget"), input)
    }

    #[test]
    fn requests_draw_the_department_budget_down() {
        reset();
        set_config("budget_cents", "500000");
        let first = run(json!({"id": "PR-1", "department": " ops ", "amount_cents": 120000})).unwrap();
        assert_eq!(first.decision, Decision::Approved);
        assert_eq!((first.spent_cents, first.remaining_cents), (120000, 380000));
        assert_eq!(first.department, "ops");
        let second = run(json!({"id": "PR-2", "department": "ops", "amount_cents": 300000})).unwrap();
        assert_eq!(second.decision, Decision::Review, "over the default review threshold");
        assert_eq!((second.spent_cents, second.remaining_cents), (420000, 80000));
        // Another department has its own budget.
        let sales = run(json!({"id": "PR-3", "department": "sales", "amount_cents": 1000})).unwrap();
        assert_eq!(sales.spent_cents, 1000);
        let host = snapshot();
        assert_eq!(host.kv.get("spent/ops").map(Vec::as_slice), Some(&b"420000"[..]));
        assert!(
            host.logs.last().is_some_and(|(_, line)| line.starts_with("PR-3: Approved for sales")),
            "{:?}",
            host.logs
        );
    }

    #[test]
    fn over_budget_is_a_business_error_and_spends_nothing() {
        reset();
        set_config("budget_cents", "100000");
        run(json!({"id": "PR-1", "department": "ops", "amount_cents": 90000})).unwrap();
        let err = run(json!({"id": "PR-2", "department": "ops", "amount_cents": 20000})).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Business, "over-budget"));
        assert!(err.message.contains("110000 of its 100000"), "{}", err.message);
        assert_eq!(snapshot().kv.get("spent/ops").map(Vec::as_slice), Some(&b"90000"[..]));
        // Exactly the budget is still allowed.
        assert_eq!(run(json!({"id": "PR-3", "department": "ops", "amount_cents": 10000})).unwrap().remaining_cents, 0);
    }

    #[test]
    fn the_review_threshold_is_configurable() {
        reset();
        set_config("review_over_cents", "100");
        assert_eq!(
            run(json!({"id": "PR-1", "department": "ops", "amount_cents": 100})).unwrap().decision,
            Decision::Approved
        );
        assert_eq!(
            run(json!({"id": "PR-2", "department": "ops", "amount_cents": 101})).unwrap().decision,
            Decision::Review
        );
    }

    #[test]
    fn bad_requests_are_invalid_input() {
        reset();
        for (request, code) in [
            (json!({"id": " ", "department": "ops", "amount_cents": 1}), "missing-id"),
            (json!({"id": "PR-1", "department": "", "amount_cents": 1}), "missing-department"),
            (json!({"id": "PR-1", "department": "ops", "amount_cents": 0}), "zero-amount"),
        ] {
            let err = run(request).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::InvalidInput, code));
        }
        assert!(snapshot().kv.is_empty());
    }

    #[test]
    fn input_that_does_not_fit_never_reaches_the_step() {
        // What the component does with raw JSON: the SDK decodes it before calling `run`.
        for bad in
            [r#"{"request": {"id": "PR-1", "department": "ops", "amount_cents": -5}}"#, r#"{"id": "PR-1"}"#, "[]"]
        {
            let err = alur_sdk::__private::run_json::<BudgetCheck>(&Context::for_test("budget"), bad).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::InvalidInput, "invalid-input"), "{bad}");
        }
    }

    #[test]
    fn a_config_value_that_is_not_cents_is_an_internal_error() {
        reset();
        set_config("budget_cents", "ten thousand");
        let err = run(json!({"id": "PR-1", "department": "ops", "amount_cents": 1})).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-config"));
    }
}
