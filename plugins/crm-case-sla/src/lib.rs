//! # crm-case-sla: the SLA deadline of a support case in business hours, and who it escalates to
//!
//! A case's priority gives it a number of **business hours** (P1 4 h, P2 8 h, P3 24 h, P4 72 h by default) to be
//! resolved in. The step counts them from `opened_at` through the configured business calendar — working hours,
//! working days, holidays, in one fixed UTC offset — and returns the deadline. A customer tier may shorten or
//! lengthen the time. For the escalation number in the input (how many times the case was escalated already) it
//! also returns the next escalation: its level, its owner and when it is due, the SLA deadline plus
//! `escalation_hours` business hours per escalation already made. Given the current time, it says whether the
//! SLA and the next escalation are breached.
//!
//! The step never reads a clock (its date library is built without one): the time comes in through the input, so a
//! process passes it with jq (`now: (now | todate)`) and the journaled output makes the decision replay-safe.
//!
//! ## Input
//!
//! ```json
//! {"case": {"id": "C-1", "priority": "P1", "opened_at": "2025-01-06T16:00:00Z", "tier": "gold"},
//!  "escalation": 0, "now": "2025-01-07T10:30:00Z"}
//! ```
//!
//! `priority` is `P1`..`P4` or a name the SDK's [`CasePriority`] knows (`urgent`, `high`, `medium`, `low`, ...).
//! `opened_at` (or `created_at`) is an RFC 3339 timestamp. `tier` is optional. `escalation` defaults to 0; `now`
//! is optional, also RFC 3339.
//!
//! ## Config
//!
//! | key                  | default       | meaning                                                              |
//! |----------------------|---------------|----------------------------------------------------------------------|
//! | `hours.P1` .. `hours.P4` | 4, 8, 24, 72 | business hours to resolve a case of that priority (`0 < h <= 10000`) |
//! | `business_hours`     | `09:00-17:00` | the working window of a business day, `HH:MM-HH:MM`, end up to `24:00` |
//! | `business_days`      | `mon-fri`     | days and ranges, comma-separated: `mon-fri`, `sun-thu`, `mon,wed,fri`, `mon-sun` |
//! | `timezone_offset`    | `+00:00`      | the fixed UTC offset the calendar is in (`+05:30`, `-08:00`, `Z`)     |
//! | `holidays`           | none          | comma-separated dates (`2025-12-25,2026-01-01`) that are not business days |
//! | `tiers`              | none          | JSON object, tier → factor on the hours (`{"gold": 0.5, "basic": 1.5}`); tiers compare case-insensitively; an unlisted tier has factor 1 |
//! | `escalation_owners`  | none          | comma-separated owners of escalation levels 1, 2, ...; they also bound the levels |
//! | `escalation_hours`   | the SLA's hours | business hours between one escalation and the next               |
//!
//! A config value that does not parse, or a calendar without any business time, is an `invalid-config` internal
//! error: the definition is wrong, not the case.
//!
//! ## Output
//!
//! ```json
//! {"case_id": "C-1", "priority": "P1", "opened_at": "2025-01-06T16:00:00Z",
//!  "deadline": "2025-01-07T11:00:00Z", "business_hours": 2.0,
//!  "now": "2025-01-07T10:30:00Z", "elapsed_business_hours": 2.5, "breached": false,
//!  "escalation": {"number": 0, "level": 1, "owner": "team-lead", "due": "2025-01-07T11:00:00Z", "breached": false}}
//! ```
//!
//! Timestamps are in the calendar's offset, to the second. `business_hours` is the SLA length after the tier
//! factor. `now`, `elapsed_business_hours`, `breached` and `escalation.breached` are there only when the input has
//! `now`; a deadline is breached once `now` reaches it. `escalation.owner` is there only when
//! `escalation_owners` is set.
//!
//! ## Errors
//!
//! `business` `escalation-exhausted` when `escalation` already reached the last level of `escalation_owners`.
//! `invalid-input` with code `missing-priority`, `unknown-priority`, `missing-opened-at`, `invalid-timestamp`,
//! `out-of-range` (a date too far from the calendar's reach), or `invalid-input` (the JSON does not fit).

use alur_sdk::records::crm::CasePriority;
use alur_sdk::{Context, Step, StepError, config, log};
use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, TimeDelta, Timelike};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The case, as far as its SLA needs it; other fields of the record are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaCase {
    /// The CRM's id.
    pub id: String,
    /// Its priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<CasePriority>,
    /// When it was opened, RFC 3339.
    #[serde(default, alias = "created_at", skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<String>,
    /// The customer's support tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

/// The step's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The case.
    pub case: SlaCase,
    /// How many times the case was escalated already.
    #[serde(default)]
    pub escalation: u32,
    /// The current time, RFC 3339, for the breach checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
}

/// The next escalation of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    /// Escalations made so far (the input's `escalation`).
    pub number: u32,
    /// The level the next escalation reaches: `number + 1`.
    pub level: u32,
    /// Who owns that level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// When the next escalation is due.
    pub due: String,
    /// Whether `now` reached `due`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breached: Option<bool>,
}

/// The step's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// The case's id.
    pub case_id: String,
    /// `P1` .. `P4`.
    pub priority: String,
    /// `opened_at` in the calendar's offset.
    pub opened_at: String,
    /// The SLA deadline.
    pub deadline: String,
    /// The SLA length in business hours, after the tier factor.
    pub business_hours: f64,
    /// `now` in the calendar's offset, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
    /// Business hours from `opened_at` to `now`, to the hundredth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_business_hours: Option<f64>,
    /// Whether `now` reached the deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breached: Option<bool>,
    /// The next escalation.
    pub escalation: Escalation,
}

fn invalid_config(message: impl Into<String>) -> StepError {
    StepError::internal("invalid-config", message)
}

/// Most days the calendar walks for one answer: 20 years, far beyond any SLA, and a bound on the loop when the
/// holidays leave no business day at all.
const MAX_DAYS: u32 = 20 * 366;
const MAX_HOURS: f64 = 10_000.0;

/// When business happens: a daily window on some weekdays, minus holidays, in one fixed offset.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    /// Window start, seconds after midnight.
    pub start: u32,
    /// Window end, seconds after midnight, up to 86 400.
    pub end: u32,
    /// Monday first.
    pub days: [bool; 7],
    /// The offset local times are in.
    pub offset: FixedOffset,
    /// Days off.
    pub holidays: BTreeSet<NaiveDate>,
}

/// `HH:MM` as seconds after midnight; `24:00` is allowed for the end of the day.
fn clock_time(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let ok = m < 60 && (h < 24 || (h == 24 && m == 0));
    ok.then_some(h * 3600 + m * 60)
}

const DAY_NAMES: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

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
                let (from, to) = (weekday(from)?, weekday(to)?);
                let mut d = from;
                loop {
                    days[d] = true;
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
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
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
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

impl Calendar {
    /// Reads the calendar from the step's config, with the documented defaults.
    pub fn from_config() -> Result<Self, StepError> {
        let window = config::get("business_hours").unwrap_or_else(|| "09:00-17:00".into());
        let (start, end) = window
            .split_once('-')
            .and_then(|(s, e)| Some((clock_time(s)?, clock_time(e)?)))
            .filter(|(s, e)| s < e)
            .ok_or_else(|| {
                invalid_config(format!(
                    "config key `business_hours` = `{window}`: expected `HH:MM-HH:MM` with the start before the end"
                ))
            })?;
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
        Ok(Calendar { start, end, days, offset, holidays })
    }

    /// Whether `day` has business hours.
    pub fn is_business_day(&self, day: NaiveDate) -> bool {
        self.days[day.weekday().num_days_from_monday() as usize] && !self.holidays.contains(&day)
    }

    fn at(day: NaiveDate, seconds: u32) -> NaiveDateTime {
        // `seconds` is at most 86 400: the window end may be midnight of the next day.
        day.and_hms_opt(0, 0, 0).expect("midnight exists") + TimeDelta::seconds(i64::from(seconds))
    }

    /// The instant `seconds` business seconds after `from`.
    pub fn add(&self, from: DateTime<FixedOffset>, seconds: i64) -> Result<DateTime<FixedOffset>, StepError> {
        let mut t = from.with_timezone(&self.offset).naive_local();
        let mut remaining = seconds.max(0);
        for _ in 0..MAX_DAYS {
            let day = t.date();
            if self.is_business_day(day) {
                let (open, close) = (Self::at(day, self.start), Self::at(day, self.end));
                t = t.max(open);
                if t < close {
                    let available = (close - t).num_seconds();
                    if remaining <= available {
                        return self.localize(t + TimeDelta::seconds(remaining));
                    }
                    remaining -= available;
                }
            }
            t = Self::at(day.checked_add_days(Days::new(1)).ok_or_else(out_of_range)?, 0);
        }
        Err(invalid_config(format!("the business calendar has no room for the time within {MAX_DAYS} days")))
    }

    /// Business seconds from `from` to `to`; 0 when `to` is not later.
    pub fn between(&self, from: DateTime<FixedOffset>, to: DateTime<FixedOffset>) -> Result<i64, StepError> {
        let (from, to) = (from.with_timezone(&self.offset).naive_local(), to.with_timezone(&self.offset).naive_local());
        if to <= from {
            return Ok(0);
        }
        if (to.date() - from.date()).num_days() > i64::from(MAX_DAYS) {
            return Err(out_of_range());
        }
        let mut total = 0;
        let mut day = from.date();
        while day <= to.date() {
            if self.is_business_day(day) {
                let open = Self::at(day, self.start).max(from);
                let close = Self::at(day, self.end).min(to);
                if close > open {
                    total += (close - open).num_seconds();
                }
            }
            day = day.checked_add_days(Days::new(1)).ok_or_else(out_of_range)?;
        }
        Ok(total)
    }

    fn localize(&self, t: NaiveDateTime) -> Result<DateTime<FixedOffset>, StepError> {
        t.and_local_timezone(self.offset).single().ok_or_else(out_of_range)
    }
}

fn out_of_range() -> StepError {
    StepError::invalid_input("out-of-range", "the date is out of the range the business calendar can count")
}

/// Everything the step reads from its config, besides the calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The business calendar.
    pub calendar: Calendar,
    /// Hours for P1..P4.
    pub hours: [f64; 4],
    /// Lower-cased tier → factor.
    pub tiers: BTreeMap<String, f64>,
    /// Owners of escalation levels 1, 2, ...
    pub escalation_owners: Vec<String>,
    /// Business hours between escalations, when not the SLA's own.
    pub escalation_hours: Option<f64>,
}

fn config_hours(key: &str, default: f64) -> Result<f64, StepError> {
    let value = config::parse::<f64>(key)?.unwrap_or(default);
    // Also rejects NaN and infinities, which `parse` accepts.
    if !(value > 0.0 && value <= MAX_HOURS) {
        return Err(invalid_config(format!(
            "config key `{key}` = {value}: expected hours above 0, at most {MAX_HOURS}"
        )));
    }
    Ok(value)
}

impl Settings {
    /// Reads the settings from the step's config, with the documented defaults.
    pub fn from_config() -> Result<Self, StepError> {
        let calendar = Calendar::from_config()?;
        let hours = [
            config_hours("hours.P1", 4.0)?,
            config_hours("hours.P2", 8.0)?,
            config_hours("hours.P3", 24.0)?,
            config_hours("hours.P4", 72.0)?,
        ];
        let mut tiers = BTreeMap::new();
        for (tier, factor) in config::json::<BTreeMap<String, f64>>("tiers")?.unwrap_or_default() {
            if !(factor > 0.0 && factor <= 10.0) {
                return Err(invalid_config(format!(
                    "tier `{tier}` in config key `tiers` has factor {factor}: expected above 0, at most 10"
                )));
            }
            tiers.insert(tier.trim().to_lowercase(), factor);
        }
        let escalation_owners = config::get("escalation_owners")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect();
        let escalation_hours = match config::get("escalation_hours") {
            Some(_) => Some(config_hours("escalation_hours", 1.0)?),
            None => None,
        };
        Ok(Settings { calendar, hours, tiers, escalation_owners, escalation_hours })
    }
}

/// `P1`..`P4` and the index into [`Settings::hours`].
fn priority_rank(priority: Option<CasePriority>) -> Result<(usize, &'static str), StepError> {
    match priority {
        Some(CasePriority::Urgent) => Ok((0, "P1")),
        Some(CasePriority::High) => Ok((1, "P2")),
        Some(CasePriority::Medium) => Ok((2, "P3")),
        Some(CasePriority::Low) => Ok((3, "P4")),
        Some(CasePriority::Other) => Err(StepError::invalid_input(
            "unknown-priority",
            "the case priority is none of P1..P4 (or urgent, high, medium, low)",
        )),
        None => Err(StepError::invalid_input("missing-priority", "the case has no `priority`; its SLA depends on it")),
    }
}

fn timestamp(field: &str, text: &str) -> Result<DateTime<FixedOffset>, StepError> {
    DateTime::parse_from_rfc3339(text.trim()).map_err(|e| {
        StepError::invalid_input("invalid-timestamp", format!("`{field}` = `{text}` is not an RFC 3339 timestamp: {e}"))
    })
}

fn format(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Hours to the hundredth: enough for people, and stable in JSON.
fn round_hours(seconds: i64) -> f64 {
    (seconds as f64 / 36.0).round() / 100.0
}

/// Computes the SLA of `input` with `settings`.
pub fn sla(input: &Input, settings: &Settings) -> Result<Output, StepError> {
    let case = &input.case;
    let (rank, priority) = priority_rank(case.priority)?;
    let opened_text = case.opened_at.as_deref().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        StepError::invalid_input("missing-opened-at", "the case has no `opened_at`; its SLA counts from it")
    })?;
    // Whole seconds, as `opened_at` is reported: a later check that counts from the reported value must find
    // the same deadline (the calendar counts whole seconds, so a fraction once moved a deadline that crossed a
    // day by a second).
    let opened = timestamp("opened_at", opened_text)?;
    let opened = opened.with_nanosecond(0).unwrap_or(opened);
    let now = input.now.as_deref().map(|n| timestamp("now", n)).transpose()?;

    let factor = match case.tier.as_deref().map(|t| t.trim().to_lowercase()) {
        Some(tier) => settings.tiers.get(&tier).copied().unwrap_or_else(|| {
            if !settings.tiers.is_empty() {
                log::debug(&format!("case {}: tier `{tier}` has no factor, using 1", case.id));
            }
            1.0
        }),
        None => 1.0,
    };
    let sla_seconds = (settings.hours[rank] * factor * 3600.0).round() as i64;
    let escalation_seconds = settings.escalation_hours.map_or(sla_seconds, |h| (h * 3600.0).round() as i64);

    let number = input.escalation;
    let owners = &settings.escalation_owners;
    if !owners.is_empty() && number as usize >= owners.len() {
        return Err(StepError::business(
            "escalation-exhausted",
            format!("case {} was escalated {number} times; the last level is {}", case.id, owners.len()),
        ));
    }
    let cal = &settings.calendar;
    let deadline = cal.add(opened, sla_seconds)?;
    let due = cal.add(opened, sla_seconds.saturating_add(escalation_seconds.saturating_mul(i64::from(number))))?;

    let mut out = Output {
        case_id: case.id.clone(),
        priority: priority.into(),
        opened_at: format(opened.with_timezone(&cal.offset)),
        deadline: format(deadline),
        business_hours: round_hours(sla_seconds),
        now: None,
        elapsed_business_hours: None,
        breached: None,
        escalation: Escalation {
            number,
            level: number + 1,
            owner: owners.get(number as usize).cloned(),
            due: format(due),
            breached: None,
        },
    };
    if let Some(now) = now {
        out.now = Some(format(now.with_timezone(&cal.offset)));
        out.elapsed_business_hours = Some(round_hours(cal.between(opened, now)?));
        out.breached = Some(now >= deadline);
        out.escalation.breached = Some(now >= due);
    }
    Ok(out)
}

/// The case-SLA step.
pub struct CaseSla;

impl Step for CaseSla {
    type Input = Input;
    type Output = Output;

    fn run(_ctx: &Context, input: Input) -> Result<Output, StepError> {
        let settings = Settings::from_config()?;
        let out = sla(&input, &settings)?;
        log::debug(&format!(
            "case {} ({}) due {}, escalation {} due {}",
            out.case_id, out.priority, out.deadline, out.escalation.level, out.escalation.due
        ));
        Ok(out)
    }
}

alur_sdk::export_step!(CaseSla);

#[cfg(test)]
mod tests {
    use super::*;
    use alur_sdk::ErrorKind;
    use alur_sdk::testing::{reset, set_config};
    use serde_json::{Value, json};

    fn run(input: Value) -> Result<Output, StepError> {
        let ctx = Context::for_test("sla");
        let out = alur_sdk::__private::run_json::<CaseSla>(&ctx, &input.to_string())?;
        Ok(serde_json::from_str(&out).unwrap())
    }

    fn case(priority: &str, opened_at: &str) -> Value {
        json!({"case": {"id": "C-1", "priority": priority, "opened_at": opened_at}})
    }

    // 2025-01-06 is a Monday.

    #[test]
    fn p1_inside_the_window_is_four_hours_later_the_same_day() {
        reset();
        let out = run(case("P1", "2025-01-06T10:15:00Z")).unwrap();
        assert_eq!(out.deadline, "2025-01-06T14:15:00Z");
        assert_eq!((out.priority.as_str(), out.business_hours), ("P1", 4.0));
        assert_eq!(
            out.escalation,
            Escalation { number: 0, level: 1, owner: None, due: out.deadline.clone(), breached: None }
        );
        assert_eq!(out.breached, None, "no `now`, no breach check");
    }

    #[test]
    fn time_outside_business_hours_does_not_count() {
        reset();
        // Opened Monday 16:00: one hour on Monday, three on Tuesday from 09:00.
        assert_eq!(run(case("P1", "2025-01-06T16:00:00Z")).unwrap().deadline, "2025-01-07T12:00:00Z");
        // A fraction of a second is dropped, as it is from the reported `opened_at`, so the deadline is the
        // same when a check counts from that.
        let fraction = run(case("P1", "2025-01-06T16:00:00.600Z")).unwrap();
        assert_eq!(
            (fraction.opened_at.as_str(), fraction.deadline.as_str()),
            ("2025-01-06T16:00:00Z", "2025-01-07T12:00:00Z")
        );
        // Opened Friday 20:00: nothing counts until Monday 09:00.
        assert_eq!(run(case("P1", "2025-01-10T20:00:00Z")).unwrap().deadline, "2025-01-13T13:00:00Z");
        // Opened Saturday: the same.
        assert_eq!(run(case("urgent", "2025-01-11T11:00:00Z")).unwrap().deadline, "2025-01-13T13:00:00Z");
        // Opened before the window: counts from 09:00. P2 = 8 h = a whole day, ending at 17:00 sharp.
        assert_eq!(run(case("P2", "2025-01-06T06:30:00Z")).unwrap().deadline, "2025-01-06T17:00:00Z");
        // P4 = 72 h = nine 8-hour days: Mon 09:00 + 9 business days, across a weekend, ends Thursday 17:00.
        assert_eq!(run(case("P4", "2025-01-06T09:00:00Z")).unwrap().deadline, "2025-01-16T17:00:00Z");
        // P3 = 24 h = three days, from mid-Wednesday: Wed 4 h, Thu 8, Fri 8, Mon 4.
        assert_eq!(run(case("medium", "2025-01-08T13:00:00Z")).unwrap().deadline, "2025-01-13T13:00:00Z");
    }

    #[test]
    fn the_calendar_comes_from_config() {
        reset();
        set_config("business_hours", "08:30-12:30");
        set_config("business_days", "sun-thu");
        set_config("timezone_offset", "+03:00");
        set_config("holidays", "2025-01-12");
        set_config("hours.P2", "6");
        // Thursday 2025-01-09 11:30 local (08:30Z): 1 h Thursday, Friday and Saturday off, Sunday a holiday,
        // 4 h Monday, 1 h Tuesday.
        let out = run(case("P2", "2025-01-09T08:30:00Z")).unwrap();
        assert_eq!(out.deadline, "2025-01-14T09:30:00+03:00");
        assert_eq!(out.opened_at, "2025-01-09T11:30:00+03:00");
        assert_eq!(out.business_hours, 6.0);
        // A 24-hour, 7-day calendar counts wall-clock time.
        reset();
        set_config("business_hours", "00:00-24:00");
        set_config("business_days", "mon-sun");
        assert_eq!(run(case("P3", "2025-01-11T10:00:00+01:00")).unwrap().deadline, "2025-01-12T09:00:00Z");
    }

    #[test]
    fn tiers_scale_the_hours() {
        reset();
        set_config("tiers", r#"{"Gold": 0.5, "basic": 1.5}"#);
        let mut input = case("P1", "2025-01-06T09:00:00Z");
        input["case"]["tier"] = json!("gold");
        let out = run(input.clone()).unwrap();
        assert_eq!((out.deadline.as_str(), out.business_hours), ("2025-01-06T11:00:00Z", 2.0));
        input["case"]["tier"] = json!("basic");
        assert_eq!(run(input.clone()).unwrap().deadline, "2025-01-06T15:00:00Z");
        input["case"]["tier"] = json!("platinum");
        assert_eq!(run(input).unwrap().business_hours, 4.0, "an unknown tier has factor 1");
    }

    #[test]
    fn now_gives_elapsed_hours_and_breaches() {
        reset();
        let mut input = case("P1", "2025-01-06T16:00:00Z");
        input["now"] = json!("2025-01-07T10:30:00.250+00:00");
        let out = run(input.clone()).unwrap();
        assert_eq!(out.now.as_deref(), Some("2025-01-07T10:30:00Z"));
        assert_eq!(out.elapsed_business_hours, Some(2.5));
        assert_eq!((out.breached, out.escalation.breached), (Some(false), Some(false)));
        // At the deadline exactly, it is breached.
        input["now"] = json!("2025-01-07T12:00:00Z");
        let out = run(input.clone()).unwrap();
        assert_eq!((out.breached, out.elapsed_business_hours), (Some(true), Some(4.0)));
        // A `now` before the opening counts nothing.
        input["now"] = json!("2025-01-01T00:00:00Z");
        assert_eq!(run(input).unwrap().elapsed_business_hours, Some(0.0));
    }

    #[test]
    fn escalations_follow_the_deadline_with_their_owners() {
        reset();
        set_config("escalation_owners", "team-lead, support-manager");
        set_config("escalation_hours", "2");
        let mut input = case("P1", "2025-01-06T09:00:00Z");
        input["now"] = json!("2025-01-06T14:00:00Z");
        let first = run(input.clone()).unwrap();
        assert_eq!(first.escalation.owner.as_deref(), Some("team-lead"));
        assert_eq!((first.escalation.due.as_str(), first.escalation.breached), ("2025-01-06T13:00:00Z", Some(true)));
        input["escalation"] = json!(1);
        let second = run(input.clone()).unwrap();
        assert_eq!((second.escalation.level, second.escalation.owner.as_deref()), (2, Some("support-manager")));
        assert_eq!((second.escalation.due.as_str(), second.escalation.breached), ("2025-01-06T15:00:00Z", Some(false)));
        assert_eq!(second.deadline, first.deadline, "the SLA deadline does not move");
        input["escalation"] = json!(2);
        let err = run(input).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Business, "escalation-exhausted"));
        // Without escalation_hours, escalations come one SLA length apart.
        reset();
        let mut input = case("P2", "2025-01-06T09:00:00Z");
        input["escalation"] = json!(3);
        assert_eq!(run(input).unwrap().escalation.due, "2025-01-09T17:00:00Z");
    }

    #[test]
    fn bad_input_is_invalid_input() {
        reset();
        for (input, code) in [
            (json!({"case": {"id": "C-1", "opened_at": "2025-01-06T09:00:00Z"}}), "missing-priority"),
            (case("P7", "2025-01-06T09:00:00Z"), "unknown-priority"),
            (json!({"case": {"id": "C-1", "priority": "P1"}}), "missing-opened-at"),
            (case("P1", " "), "missing-opened-at"),
            (case("P1", "2025-01-06 09:00"), "invalid-timestamp"),
            (case("P1", "yesterday"), "invalid-timestamp"),
            (
                json!({"case": {"id": "C-1", "priority": "P1", "opened_at": "2025-01-06T09:00:00Z"}, "now": "soon"}),
                "invalid-timestamp",
            ),
            (
                json!({"case": {"id": "C-1", "priority": "P1", "opened_at": "1900-01-01T00:00:00Z"}, "now": "2025-01-06T09:00:00Z"}),
                "out-of-range",
            ),
            (json!({"case": {"priority": "P1"}}), "invalid-input"),
            (json!({"case": {"id": "C-1"}, "escalation": -1}), "invalid-input"),
            (json!([]), "invalid-input"),
        ] {
            let err = run(input.clone()).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::InvalidInput, code), "{input}");
        }
    }

    #[test]
    fn bad_config_is_an_internal_error() {
        for (key, value) in [
            ("business_hours", "17:00-09:00"),
            ("business_hours", "9-17"),
            ("business_hours", "09:00-24:30"),
            ("business_days", "weekdays"),
            ("business_days", ""),
            ("timezone_offset", "CET"),
            ("timezone_offset", "+25:00"),
            ("holidays", "2025-13-01"),
            ("hours.P1", "0"),
            ("hours.P3", "NaN"),
            ("hours.P4", "20000"),
            ("tiers", r#"{"gold": 0}"#),
            ("tiers", "gold=0.5"),
            ("escalation_hours", "-1"),
        ] {
            reset();
            set_config(key, value);
            let err = run(case("P1", "2025-01-06T09:00:00Z")).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-config"), "{key} = {value}");
        }
        // Holidays that swallow every business day for years: an error, not an endless walk.
        reset();
        set_config("business_days", "mon");
        let mondays: Vec<String> = (0..(MAX_DAYS / 7 + 2))
            .map(|w| (NaiveDate::from_ymd_opt(2025, 1, 6).unwrap() + Days::new(7 * u64::from(w))).to_string())
            .collect();
        set_config("holidays", &mondays.join(","));
        let err = run(case("P1", "2025-01-06T09:00:00Z")).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-config"));
    }

    #[test]
    fn day_and_offset_parsing() {
        let mon_fri = [true, true, true, true, true, false, false];
        assert_eq!(parse_days("mon-fri"), Some(mon_fri));
        assert_eq!(parse_days("Monday - Friday"), Some(mon_fri));
        assert_eq!(parse_days("fri-mon"), Some([true, false, false, false, true, true, true]));
        assert_eq!(parse_days("mon, wed,fri"), Some([true, false, true, false, true, false, false]));
        assert_eq!(parse_days("mo"), None);
        assert_eq!(parse_days("mon-funday"), None);
        assert_eq!(parse_offset("+05:30").map(|o| o.local_minus_utc()), Some(19_800));
        assert_eq!(parse_offset("-0800").map(|o| o.local_minus_utc()), Some(-28_800));
        assert_eq!(parse_offset("Z").map(|o| o.local_minus_utc()), Some(0));
        assert_eq!(parse_offset("+5"), None);
        assert_eq!(clock_time("24:00"), Some(86_400));
        assert_eq!(clock_time("23:60"), None);
    }

    #[test]
    fn output_json_shape() {
        reset();
        set_config("escalation_owners", "team-lead");
        let mut input = case("P1", "2025-01-06T09:00:00Z");
        input["now"] = json!("2025-01-06T10:00:00Z");
        let ctx = Context::for_test("sla");
        let out = alur_sdk::__private::run_json::<CaseSla>(&ctx, &input.to_string()).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            json!({
                "case_id": "C-1", "priority": "P1", "opened_at": "2025-01-06T09:00:00Z",
                "deadline": "2025-01-06T13:00:00Z", "business_hours": 4.0,
                "now": "2025-01-06T10:00:00Z", "elapsed_business_hours": 1.0, "breached": false,
                "escalation": {"number": 0, "level": 1, "owner": "team-lead", "due": "2025-01-06T13:00:00Z", "breached": false}
            })
        );
    }
}
