//! # crm-create-task: a follow-up task for an owner, with a templated subject and a business-day due date
//!
//! The step builds a [`Task`] record: its subject (and description) from templates in the config whose
//! `{field}` placeholders are filled from the input, its due date `due_in` business days after the input's `now`,
//! and its id from a counter in the plugin's kv state, so that ids are deterministic and never repeat within a
//! tenant.
//!
//! The step never reads a clock (its date library is built without one): the time comes in through the input, so
//! a process passes it with jq (`now: (now | todate)`), and the journaled output keeps the task stable on replay.
//!
//! ## Input
//!
//! A JSON object with `owner` (required), `now` (or `at`; RFC 3339, required) and whatever the templates refer to:
//!
//! ```json
//! {"owner": "ben", "now": "2025-01-10T15:00:00Z",
//!  "lead": {"id": "L-1", "first_name": "Ana", "last_name": "Silva", "company": "Acme"}}
//! ```
//!
//! ## Templates
//!
//! `{path}` is replaced by the input value at `path`, dot-separated object keys or list indexes
//! (`{lead.company}`, `{lines.0.sku}`); `{path|fallback}` uses `fallback` when the value is missing, `null` or
//! empty. Besides the input, `{owner}`, `{now}` and `{due_date}` are always there. Strings go in as they are,
//! numbers and booleans as JSON writes them. `{{` and `}}` are literal braces.
//!
//! ## Config
//!
//! | key               | default    | meaning                                                              |
//! |-------------------|------------|----------------------------------------------------------------------|
//! | `subject`         | (required) | template of the task's subject                                       |
//! | `description`     | none       | template of the task's description                                   |
//! | `related_to`      | none       | template of the id of the record the task is about (e.g. `{lead.id}`); without it, the input's `related_to` string, if any |
//! | `due_in`          | 1          | business days from `now` to the due date; 0 is today, or the next business day when today is not one |
//! | `business_days`   | `mon-fri`  | days and ranges, comma-separated: `mon-fri`, `sun-thu`, `mon,wed,fri` |
//! | `holidays`        | none       | comma-separated dates (`2025-12-25,2026-01-01`) that are not business days |
//! | `timezone_offset` | `+00:00`   | the fixed UTC offset in which `now` falls on a date                  |
//! | `priority`        | none       | copied into the task (`high`, `normal`, ...)                         |
//! | `id_prefix`       | `T-`       | task ids are the prefix and a six-digit counter kept per prefix: `T-000001` |
//!
//! A config that is missing `subject`, does not parse, or has a template with an unclosed or empty `{}` is an
//! `invalid-config` internal error: the definition is wrong.
//!
//! ## Output
//!
//! The [`Task`]: `{"id": "T-000001", "subject": "Call Ana Silva at Acme", "owner_id": "ben",
//! "due_date": "2025-01-13", "status": "not_started", "related_to": "L-1", "created_at": "2025-01-10T15:00:00Z"}`.
//!
//! ## Errors
//!
//! `invalid-input` with code `missing-owner`, `missing-time` (neither `now` nor `at`), `invalid-timestamp`,
//! `missing-field` (a placeholder without fallback finds nothing), `not-text` (a placeholder finds an object or
//! a list), or `invalid-input` (the input is not a JSON object).

use alur_sdk::records::crm::{Task, TaskStatus};
use alur_sdk::{Context, Step, StepError, config, kv, log};
use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, SecondsFormat};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The step's input: an owner, the current time, and the fields the templates use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Who gets the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The current time, RFC 3339.
    #[serde(default, alias = "at", skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
    /// Everything else, for the templates.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Text as is.
    Text(String),
    /// A value from the input, with an optional fallback.
    Field {
        /// Dot-separated path.
        path: String,
        /// Used when the value is missing, null or empty.
        fallback: Option<String>,
    },
}

/// A parsed `{field}` template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The config key it came from, for messages.
    pub key: String,
    /// Its pieces.
    pub pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text`; a problem is an `invalid-config` error naming `key`.
    pub fn parse(key: &str, text: &str) -> Result<Template, StepError> {
        let bad = |why: &str| StepError::internal("invalid-config", format!("config key `{key}`: {why} in `{text}`"));
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(bad("a `}` without its `{` (write `}}` for a brace)")),
                '{' => {
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') | None => return Err(bad("an unclosed `{` (write `{{` for a brace)")),
                            Some(c) => inner.push(c),
                        }
                    }
                    let (path, fallback) = match inner.split_once('|') {
                        Some((path, fallback)) => (path.trim(), Some(fallback.to_string())),
                        None => (inner.trim(), None),
                    };
                    if path.is_empty() || path.split('.').any(str::is_empty) {
                        return Err(bad(&format!("the placeholder `{{{inner}}}` names no field")));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Field { path: path.to_string(), fallback });
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { key: key.to_string(), pieces })
    }

    /// Fills the template from `values`.
    pub fn render(&self, values: &Value) -> Result<String, StepError> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Field { path, fallback } => {
                    let found = lookup(values, path).filter(|v| !v.is_null() && v.as_str() != Some(""));
                    match (found, fallback) {
                        (Some(Value::String(s)), _) => out.push_str(s),
                        (Some(v @ (Value::Number(_) | Value::Bool(_))), _) => out.push_str(&v.to_string()),
                        (Some(_), _) => {
                            return Err(StepError::invalid_input(
                                "not-text",
                                format!("`{{{path}}}` in `{}` is an object or a list, not text", self.key),
                            ));
                        }
                        (None, Some(fallback)) => out.push_str(fallback),
                        (None, None) => {
                            return Err(StepError::invalid_input(
                                "missing-field",
                                format!("`{}` needs `{path}`, which the input does not have", self.key),
                            ));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The value at a dot-separated path of object keys and list indexes.
fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, part| match v {
        Value::Object(map) => map.get(part),
        Value::Array(items) => items.get(part.parse::<usize>().ok()?),
        _ => None,
    })
}

const DAY_NAMES: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
/// Most days the due-date walk takes: a bound when the holidays leave no business day at all.
const MAX_DAYS: u32 = 10 * 366;

/// A weekday (0 = Monday) from a name or its abbreviation of at least three letters.
fn weekday(text: &str) -> Option<usize> {
    let text = text.trim().to_lowercase();
    (text.len() >= 3).then(|| DAY_NAMES.iter().position(|d| d.starts_with(&text))).flatten()
}

/// Parses `mon-fri`, `sun-thu` (ranges wrap around the week) and `mon,wed,fri`.
pub fn parse_days(text: &str) -> Option<[bool; 7]> {
    let mut days = [false; 7];
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match item.split_once('-') {
            Some((from, to)) => {
                let (mut d, to) = (weekday(from)?, weekday(to)?);
                days[d] = true;
                while d != to {
                    d = (d + 1) % 7;
                    days[d] = true;
                }
            }
            None => days[weekday(item)?] = true,
        }
    }
    days.contains(&true).then_some(days)
}

/// Parses `+05:30`, `-08:00`, `+0530`, `Z` or `UTC`.
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("z") || text.eq_ignore_ascii_case("utc") {
        return FixedOffset::east_opt(0);
    }
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &text[1..];
    let (h, m) = rest.split_once(':').unwrap_or_else(|| rest.split_at(rest.len().min(2)));
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Everything the step reads from its config.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The subject template.
    pub subject: Template,
    /// The description template.
    pub description: Option<Template>,
    /// The related-record template.
    pub related_to: Option<Template>,
    /// Business days to the due date.
    pub due_in: u32,
    /// Monday first.
    pub days: [bool; 7],
    /// Days off.
    pub holidays: BTreeSet<NaiveDate>,
    /// The offset `now` is read in.
    pub offset: FixedOffset,
    /// The task priority.
    pub priority: Option<String>,
    /// The id prefix.
    pub id_prefix: String,
}

fn invalid_config(message: impl Into<String>) -> StepError {
    StepError::internal("invalid-config", message)
}

impl Settings {
    /// Reads the settings from the step's config, with the documented defaults.
    pub fn from_config() -> Result<Self, StepError> {
        let subject = config::get("subject")
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| invalid_config("config key `subject` (the task subject template) is required"))?;
        let subject = Template::parse("subject", &subject)?;
        let template = |key: &str| config::get(key).map(|t| Template::parse(key, &t)).transpose();
        let days_text = config::get("business_days").unwrap_or_else(|| "mon-fri".into());
        let days = parse_days(&days_text).ok_or_else(|| {
            invalid_config(format!(
                "config key `business_days` = `{days_text}`: expected e.g. `mon-fri` or `mon,wed,fri`"
            ))
        })?;
        let offset_text = config::get("timezone_offset").unwrap_or_else(|| "+00:00".into());
        let offset = parse_offset(&offset_text).ok_or_else(|| {
            invalid_config(format!(
                "config key `timezone_offset` = `{offset_text}`: expected e.g. `+00:00` or `-05:00`"
            ))
        })?;
        let mut holidays = BTreeSet::new();
        for day in config::get("holidays").unwrap_or_default().split(',').map(str::trim).filter(|d| !d.is_empty()) {
            let date = NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|e| invalid_config(format!("config key `holidays`: `{day}` is not a YYYY-MM-DD date: {e}")))?;
            holidays.insert(date);
        }
        let id_prefix = config::get("id_prefix").unwrap_or_else(|| "T-".into());
        if id_prefix.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(invalid_config(format!("config key `id_prefix` = `{id_prefix}` has whitespace or `/`")));
        }
        Ok(Settings {
            subject,
            description: template("description")?,
            related_to: template("related_to")?,
            due_in: config::parse::<u32>("due_in")?.unwrap_or(1),
            days,
            holidays,
            offset,
            priority: config::get("priority").map(|p| p.trim().to_string()).filter(|p| !p.is_empty()),
            id_prefix,
        })
    }

    fn is_business_day(&self, day: NaiveDate) -> bool {
        self.days[day.weekday().num_days_from_monday() as usize] && !self.holidays.contains(&day)
    }

    /// `due_in` business days after `today`; with `due_in` 0, `today` itself if it is a business day.
    pub fn due_date(&self, today: NaiveDate) -> Result<NaiveDate, StepError> {
        let mut day = today;
        let mut left = self.due_in;
        if left == 0 && self.is_business_day(day) {
            return Ok(day);
        }
        left = left.max(1);
        for _ in 0..MAX_DAYS {
            day = day.checked_add_days(Days::new(1)).ok_or_else(|| {
                StepError::invalid_input("out-of-range", "the due date is beyond the calendar's range")
            })?;
            if self.is_business_day(day) {
                left -= 1;
                if left == 0 {
                    return Ok(day);
                }
            }
        }
        Err(invalid_config(format!("no due date within {MAX_DAYS} days: the business days and holidays leave none")))
    }
}

/// Takes the next task number for `prefix` from the kv counter.
fn next_id(prefix: &str) -> Result<String, StepError> {
    let key = format!("seq/{prefix}");
    let n = kv::get::<u64>(&key)?.unwrap_or(0) + 1;
    kv::set(&key, &n)?;
    Ok(format!("{prefix}{n:06}"))
}

/// Builds the task for `input` (and takes its id from the counter).
pub fn create(input: Input, settings: &Settings) -> Result<Task, StepError> {
    let owner = input.owner.as_deref().map(str::trim).filter(|o| !o.is_empty()).ok_or_else(|| {
        StepError::invalid_input("missing-owner", "the task needs an `owner`, the user who has to do it")
    })?;
    let now_text = input.now.as_deref().ok_or_else(|| {
        StepError::invalid_input(
            "missing-time",
            "the step needs the current time as `now` (or `at`), RFC 3339; pass it with jq: `now: (now | todate)`",
        )
    })?;
    let now: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(now_text.trim()).map_err(|e| {
        StepError::invalid_input("invalid-timestamp", format!("`now` = `{now_text}` is not an RFC 3339 timestamp: {e}"))
    })?;
    let now = now.with_timezone(&settings.offset);
    let due = settings.due_date(now.date_naive())?;
    let created_at = now.to_rfc3339_opts(SecondsFormat::Secs, true);

    let mut values = input.fields;
    values.insert("owner".into(), Value::String(owner.to_string()));
    values.insert("now".into(), Value::String(created_at.clone()));
    values.insert("due_date".into(), Value::String(due.to_string()));
    let values = Value::Object(values);

    let subject = settings.subject.render(&values)?;
    let description = settings.description.as_ref().map(|t| t.render(&values)).transpose()?;
    let related_to = match &settings.related_to {
        Some(t) => Some(t.render(&values)?),
        None => values.get("related_to").and_then(Value::as_str).map(String::from),
    };
    // Last, so that an input the templates reject does not use up a number.
    let id = next_id(&settings.id_prefix)?;
    Ok(Task {
        id,
        subject,
        owner_id: owner.to_string(),
        due_date: Some(due.to_string()),
        status: Some(TaskStatus::NotStarted),
        priority: settings.priority.clone(),
        description,
        related_to,
        created_at: Some(created_at),
    })
}

/// The task-creation step.
pub struct CreateTask;

impl Step for CreateTask {
    type Input = Input;
    type Output = Task;

    fn run(_ctx: &Context, input: Input) -> Result<Task, StepError> {
        let settings = Settings::from_config()?;
        let task = create(input, &settings)?;
        log::info(&format!("task {} for {} due {}", task.id, task.owner_id, task.due_date.as_deref().unwrap_or("-")));
        Ok(task)
    }
}

alur_sdk::export_step!(CreateTask);

#[cfg(test)]
mod tests {
    use super::*;
    use alur_sdk::ErrorKind;
    use alur_sdk::testing::{reset, set_config, snapshot};
    use serde_json::json;

    fn run(input: Value) -> Result<Task, StepError> {
        let ctx = Context::for_test("task");
        let out = alur_sdk::__private::run_json::<CreateTask>(&ctx, &input.to_string())?;
        Ok(serde_json::from_str(&out).unwrap())
    }

    fn lead_input(now: &str) -> Value {
        json!({
            "owner": "ben",
            "now": now,
            "lead": {"id": "L-1", "first_name": "Ana", "last_name": "Silva", "company": "Acme", "employees": 1200}
        })
    }

    // 2025-01-10 is a Friday.

    #[test]
    fn a_task_from_a_lead() {
        reset();
        set_config("subject", "Call {lead.first_name} {lead.last_name} at {lead.company}");
        set_config("description", "{lead.company} has {lead.employees} employees; due {due_date}, assigned to {owner}");
        set_config("related_to", "{lead.id}");
        set_config("priority", "high");
        let task = run(lead_input("2025-01-08T15:00:00Z")).unwrap();
        assert_eq!(
            task,
            Task {
                id: "T-000001".into(),
                subject: "Call Ana Silva at Acme".into(),
                owner_id: "ben".into(),
                due_date: Some("2025-01-09".into()),
                status: Some(TaskStatus::NotStarted),
                priority: Some("high".into()),
                description: Some("Acme has 1200 employees; due 2025-01-09, assigned to ben".into()),
                related_to: Some("L-1".into()),
                created_at: Some("2025-01-08T15:00:00Z".into()),
            }
        );
    }

    #[test]
    fn ids_come_from_a_counter_per_prefix() {
        reset();
        set_config("subject", "Follow up");
        let ids: Vec<String> = (0..3).map(|_| run(lead_input("2025-01-08T15:00:00Z")).unwrap().id).collect();
        assert_eq!(ids, ["T-000001", "T-000002", "T-000003"]);
        set_config("id_prefix", "ESC-");
        assert_eq!(run(lead_input("2025-01-08T15:00:00Z")).unwrap().id, "ESC-000001");
        let kv = snapshot().kv;
        assert_eq!(kv.get("seq/T-").map(|b| b.as_slice()), Some(b"3".as_slice()));
        assert_eq!(kv.get("seq/ESC-").map(|b| b.as_slice()), Some(b"1".as_slice()));
    }

    #[test]
    fn due_dates_skip_weekends_and_holidays() {
        reset();
        set_config("subject", "x");
        let due = |now: &str| run(lead_input(now)).unwrap().due_date.unwrap();
        // Friday + 1 business day = Monday.
        assert_eq!(due("2025-01-10T15:00:00Z"), "2025-01-13");
        // Saturday + 1 = Monday; Sunday + 1 = Monday.
        assert_eq!(due("2025-01-11T09:00:00Z"), "2025-01-13");
        assert_eq!(due("2025-01-12T09:00:00Z"), "2025-01-13");
        set_config("due_in", "3");
        set_config("holidays", "2025-01-13");
        // Friday + 3, Monday off: Tue, Wed, Thu.
        assert_eq!(due("2025-01-10T15:00:00Z"), "2025-01-16");
        set_config("due_in", "0");
        assert_eq!(due("2025-01-10T15:00:00Z"), "2025-01-10", "0 is today on a business day");
        assert_eq!(due("2025-01-11T15:00:00Z"), "2025-01-14", "0 on a weekend is the next business day");
        set_config("business_days", "sun-thu");
        set_config("holidays", "");
        assert_eq!(due("2025-01-10T15:00:00Z"), "2025-01-12");
    }

    #[test]
    fn the_date_of_now_is_taken_in_the_configured_offset() {
        reset();
        set_config("subject", "x");
        set_config("due_in", "0");
        // Friday 23:30 UTC is already Saturday in Berlin, so the task is due Monday there.
        assert_eq!(run(lead_input("2025-01-10T23:30:00Z")).unwrap().due_date.as_deref(), Some("2025-01-10"));
        set_config("timezone_offset", "+01:00");
        let task = run(lead_input("2025-01-10T23:30:00Z")).unwrap();
        assert_eq!(task.due_date.as_deref(), Some("2025-01-13"));
        assert_eq!(task.created_at.as_deref(), Some("2025-01-11T00:30:00+01:00"));
        // jq's `now | todate` has microseconds; `at` is accepted for `now`.
        set_config("timezone_offset", "Z");
        let task = run(json!({"owner": "ben", "at": "2025-01-08T15:00:00.123456Z"})).unwrap();
        assert_eq!(task.created_at.as_deref(), Some("2025-01-08T15:00:00Z"));
    }

    #[test]
    fn templates_take_paths_fallbacks_and_escapes() {
        reset();
        set_config(
            "subject",
            "{{{case.id}}} {case.lines.1.sku}: {case.contact|the customer} ({case.urgent}, {case.subject|none})",
        );
        let task = run(json!({
            "owner": "eli", "now": "2025-01-08T15:00:00Z",
            "case": {"id": "C-7", "lines": [{"sku": "A"}, {"sku": "B"}], "contact": null, "urgent": true, "subject": ""}
        }))
        .unwrap();
        assert_eq!(task.subject, "{C-7} B: the customer (true, none)");
        assert_eq!(task.related_to, None);
        // Without a related_to template, the input's related_to string is used.
        let task = run(json!({
            "owner": "eli", "now": "2025-01-08T15:00:00Z", "related_to": "C-7",
            "case": {"id": "C-7", "lines": [{"sku": "A"}, {"sku": "B"}], "urgent": false}
        }))
        .unwrap();
        assert_eq!(
            (task.subject.as_str(), task.related_to.as_deref()),
            ("{C-7} B: the customer (false, none)", Some("C-7"))
        );
    }

    #[test]
    fn template_parsing_rejects_broken_placeholders() {
        assert_eq!(
            Template::parse("s", "a {x.y|z} b").unwrap().pieces,
            vec![
                Piece::Text("a ".into()),
                Piece::Field { path: "x.y".into(), fallback: Some("z".into()) },
                Piece::Text(" b".into())
            ]
        );
        for bad in ["Call {lead.name", "Call {}", "Call { }", "{a..b}", "oops}", "{a{b}}"] {
            let err = Template::parse("subject", bad).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-config"), "{bad}");
        }
    }

    #[test]
    fn bad_input_is_invalid_input_and_uses_no_id() {
        reset();
        set_config("subject", "Call {lead.first_name} at {lead.company}");
        let mut no_company = lead_input("2025-01-08T15:00:00Z");
        no_company["lead"].as_object_mut().unwrap().remove("company");
        let mut object_field = lead_input("2025-01-08T15:00:00Z");
        object_field["lead"]["company"] = json!({"name": "Acme"});
        for (input, code) in [
            (no_company, "missing-field"),
            (object_field, "not-text"),
            (json!({"now": "2025-01-08T15:00:00Z", "lead": {}}), "missing-owner"),
            (json!({"owner": " ", "now": "2025-01-08T15:00:00Z"}), "missing-owner"),
            (json!({"owner": "ben"}), "missing-time"),
            (json!({"owner": "ben", "now": "last tuesday"}), "invalid-timestamp"),
            (json!({"owner": 7, "now": "2025-01-08T15:00:00Z"}), "invalid-input"),
            (json!(["ben"]), "invalid-input"),
        ] {
            let err = run(input.clone()).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::InvalidInput, code), "{input}");
            assert!(!err.message.is_empty());
        }
        assert!(snapshot().kv.is_empty(), "no task number was used up");
        let err =
            run(json!({"owner": "ben", "now": "2025-01-08T15:00:00Z", "lead": {"first_name": "Ana"}})).unwrap_err();
        assert!(err.message.contains("`subject` needs `lead.company`"), "{}", err.message);
    }

    #[test]
    fn bad_config_is_an_internal_error() {
        for (key, value) in [
            ("subject", ""),
            ("subject", "Call {lead"),
            ("description", "{}"),
            ("related_to", "{a|b"),
            ("due_in", "-1"),
            ("due_in", "soon"),
            ("business_days", "workdays"),
            ("holidays", "2025-02-30"),
            ("timezone_offset", "Europe/Berlin"),
            ("id_prefix", "T /"),
        ] {
            reset();
            set_config("subject", "Follow up");
            set_config(key, value);
            let err = run(lead_input("2025-01-08T15:00:00Z")).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-config"), "{key} = {value}");
        }
        reset();
        let err = run(lead_input("2025-01-08T15:00:00Z")).unwrap_err();
        assert!(err.message.contains("`subject`"), "a missing subject is named: {}", err.message);
    }

    #[test]
    fn output_json_shape() {
        reset();
        set_config("subject", "Call {lead.first_name}");
        let ctx = Context::for_test("task");
        let out =
            alur_sdk::__private::run_json::<CreateTask>(&ctx, &lead_input("2025-01-10T15:00:00Z").to_string()).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            json!({
                "id": "T-000001", "subject": "Call Ana", "owner_id": "ben", "due_date": "2025-01-13",
                "status": "not_started", "created_at": "2025-01-10T15:00:00Z"
            })
        );
    }
}
