//! # crm-lead-score: score a CRM lead from 0 to 100 and grade it hot, warm or cold
//!
//! The step adds up five factors, each worth at most its weight in points, clamps the sum to `0..=100` and
//! explains every factor in `reasons`:
//!
//! | factor         | points                                                                                      |
//! |----------------|---------------------------------------------------------------------------------------------|
//! | `source`       | share of the weight by lead source: referral 100 %, partner 80 %, webinar 70 %, trade show 60 %, web 50 %, email campaign 40 %, advertisement and social media 30 %, cold call and other 20 %, unknown 0 |
//! | `company_size` | share by employees: 1000+ 100 %, 250–999 80 %, 50–249 60 %, 10–49 30 %, under 10 10 %, unknown 0 |
//! | `country`      | the full weight if the lead's country is in `target_countries`, else 0                      |
//! | `email_domain` | the full weight for a business domain, **minus** the weight for a free-mail domain (gmail, yahoo, hotmail, outlook, ...) |
//! | `engagement`   | 50 % for a requested demo, up to 30 % for page views (full at 20), up to 20 % for email opens (full at 10) |
//!
//! With the default weights the factors add up to exactly 100.
//!
//! ## Input
//!
//! `{"lead": Lead}`, a [`Lead`] record. `email` is required; the other fields only earn points when set.
//!
//! ```json
//! {"lead": {"email": "ana@acme.io", "company": "Acme", "employees": 1200, "country": "US",
//!           "source": "referral", "demo_requested": true, "page_views": 14, "email_opens": 6}}
//! ```
//!
//! ## Config
//!
//! | key                    | default | meaning                                                                   |
//! |------------------------|---------|---------------------------------------------------------------------------|
//! | `weight.source`        | 20      | points for the best lead source                                           |
//! | `weight.company_size`  | 25      | points for the largest companies                                          |
//! | `weight.country`       | 15      | points for a target country                                               |
//! | `weight.email_domain`  | 15      | points for a business domain; a free-mail domain costs as many            |
//! | `weight.engagement`    | 25      | points for full engagement                                                |
//! | `target_countries`     | none    | comma-separated, compared case-insensitively with `lead.country` (use the CRM's notation, e.g. `US,CA,DE`); unset means the country factor scores 0 |
//! | `free_mail_domains`    | none    | comma-separated extra free-mail domains, on top of the built-in list      |
//! | `hot_threshold`        | 70      | lowest score graded `hot`                                                 |
//! | `warm_threshold`       | 40, or `hot_threshold` if lower | lowest score graded `warm`                        |
//!
//! Weights are numbers from 0 to 100; thresholds are whole numbers from 0 to 100 with `warm_threshold <=
//! hot_threshold`. A value outside that is an `invalid-config` internal error: the process definition is wrong.
//!
//! ## Output
//!
//! `{"score": 0..=100, "grade": "hot" | "warm" | "cold", "reasons": [String]}`: one reason per factor, such as
//! `"+20 source: referral"` or `"-15 email_domain: free-mail domain gmail.com"`, plus a note when the sum was
//! clamped. The grade is `hot` from `hot_threshold` up, `warm` from `warm_threshold` up, else `cold`.
//!
//! ## Errors
//!
//! `invalid_input` with code `missing-email` (no or blank `lead.email`), `invalid-email` (not `local@domain.tld`),
//! or `invalid-input` (the JSON does not fit).

use alur_sdk::records::crm::{Lead, LeadSource};
use alur_sdk::{Context, Step, StepError, config, log};
use serde::{Deserialize, Serialize};

/// The step's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The lead to score.
    pub lead: Lead,
}

/// How ready a lead is for sales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// Score at or above `hot_threshold`: hand to sales now.
    Hot,
    /// Score at or above `warm_threshold`: nurture.
    Warm,
    /// Anything lower.
    Cold,
}

/// The step's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// The clamped score, 0 to 100.
    pub score: u8,
    /// The grade the score falls in.
    pub grade: Grade,
    /// One line per factor, with its signed points.
    pub reasons: Vec<String>,
}

/// The most points each factor can earn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Lead source.
    pub source: f64,
    /// Company size.
    pub company_size: f64,
    /// Target country.
    pub country: f64,
    /// Business versus free-mail domain.
    pub email_domain: f64,
    /// Demo request, page views and email opens.
    pub engagement: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights { source: 20.0, company_size: 25.0, country: 15.0, email_domain: 15.0, engagement: 25.0 }
    }
}

/// Everything the step reads from its config.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Factor weights.
    pub weights: Weights,
    /// Upper-cased country names or codes that earn the country weight.
    pub target_countries: Vec<String>,
    /// Lower-cased extra free-mail domains.
    pub extra_free_mail: Vec<String>,
    /// Lowest `hot` score.
    pub hot_threshold: u8,
    /// Lowest `warm` score.
    pub warm_threshold: u8,
}

impl Settings {
    /// Reads the settings from the step's config, with the documented defaults.
    pub fn from_config() -> Result<Self, StepError> {
        let defaults = Weights::default();
        let weights = Weights {
            source: weight("weight.source", defaults.source)?,
            company_size: weight("weight.company_size", defaults.company_size)?,
            country: weight("weight.country", defaults.country)?,
            email_domain: weight("weight.email_domain", defaults.email_domain)?,
            engagement: weight("weight.engagement", defaults.engagement)?,
        };
        let hot_threshold = threshold("hot_threshold")?.unwrap_or(70);
        let warm_threshold = threshold("warm_threshold")?.unwrap_or(40.min(hot_threshold));
        if warm_threshold > hot_threshold {
            return Err(invalid_config(format!(
                "warm_threshold ({warm_threshold}) is above hot_threshold ({hot_threshold})"
            )));
        }
        Ok(Settings {
            weights,
            target_countries: list("target_countries").iter().map(|c| c.to_uppercase()).collect(),
            extra_free_mail: list("free_mail_domains").iter().map(|d| d.to_lowercase()).collect(),
            hot_threshold,
            warm_threshold,
        })
    }
}

fn invalid_config(message: String) -> StepError {
    StepError::internal("invalid-config", message)
}

fn weight(key: &str, default: f64) -> Result<f64, StepError> {
    let value = config::parse::<f64>(key)?.unwrap_or(default);
    // Bounding weights keeps every sum far inside i32 and rejects NaN and infinities, which `parse` accepts.
    if !(0.0..=100.0).contains(&value) {
        return Err(invalid_config(format!("config key `{key}` = {value} is not a weight from 0 to 100")));
    }
    Ok(value)
}

fn threshold(key: &str) -> Result<Option<u8>, StepError> {
    match config::parse::<u8>(key)? {
        Some(value) if value > 100 => {
            Err(invalid_config(format!("config key `{key}` = {value} is above the highest score, 100")))
        }
        other => Ok(other),
    }
}

fn list(key: &str) -> Vec<String> {
    config::get(key)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(String::from)
        .collect()
}

/// Free-mail domains matched exactly.
const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "mail.com",
    "email.com",
    "web.de",
    "t-online.de",
    "freenet.de",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "libero.it",
    "mail.ru",
    "qq.com",
    "163.com",
    "126.com",
    "fastmail.com",
    "tutanota.com",
    "zoho.com",
];

/// Free-mail providers that run one domain per country (`yahoo.co.uk`, `hotmail.fr`, `gmx.at`).
const FREE_MAIL_PROVIDERS: &[&str] =
    &["yahoo", "ymail", "rocketmail", "hotmail", "outlook", "live", "aol", "gmx", "yandex"];

/// Whether `domain` (lower case) belongs to a free-mail provider.
pub fn is_free_mail(domain: &str, extra: &[String]) -> bool {
    if FREE_MAIL_DOMAINS.contains(&domain) || extra.iter().any(|d| d == domain) {
        return true;
    }
    // Only a short country or generic suffix counts, so that a company host such as `outlook.acme.com` does not.
    domain.split_once('.').is_some_and(|(provider, suffix)| {
        FREE_MAIL_PROVIDERS.contains(&provider)
            && suffix.split('.').count() <= 2
            && suffix.split('.').all(|label| (2..=3).contains(&label.len()))
    })
}

/// The lower-cased domain of a lead's email, or the `invalid_input` error that explains why there is none.
pub fn email_domain(email: Option<&str>) -> Result<String, StepError> {
    let email = email.map(str::trim).unwrap_or_default();
    if email.is_empty() {
        return Err(StepError::invalid_input(
            "missing-email",
            "the lead has no email address; it is required for scoring",
        ));
    }
    let invalid = || StepError::invalid_input("invalid-email", format!("`{email}` is not an email address"));
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain = domain.trim_end_matches('.').to_lowercase();
    let well_formed = !local.is_empty()
        && !domain.contains('@')
        && !email.chars().any(char::is_whitespace)
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty());
    if !well_formed {
        return Err(invalid());
    }
    Ok(domain)
}

/// One factor's points and why.
struct Contribution {
    factor: &'static str,
    points: i32,
    why: String,
}

impl Contribution {
    fn new(factor: &'static str, weight: f64, share: f64, why: impl Into<String>) -> Self {
        // Rounding per factor keeps each reason a whole number and the reasons adding up to the score.
        Contribution { factor, points: (weight * share).round() as i32, why: why.into() }
    }

    fn reason(&self) -> String {
        format!("{:+} {}: {}", self.points, self.factor, self.why)
    }
}

fn source(lead: &Lead, weight: f64) -> Contribution {
    let Some(source) = lead.source else {
        return Contribution::new("source", weight, 0.0, "unknown");
    };
    let (share, name) = match source {
        LeadSource::Referral => (1.0, "referral"),
        LeadSource::Partner => (0.8, "partner"),
        LeadSource::Webinar => (0.7, "webinar"),
        LeadSource::TradeShow => (0.6, "trade show"),
        LeadSource::Web => (0.5, "web"),
        LeadSource::EmailCampaign => (0.4, "email campaign"),
        LeadSource::Advertisement => (0.3, "advertisement"),
        LeadSource::SocialMedia => (0.3, "social media"),
        LeadSource::ColdCall => (0.2, "cold call"),
        LeadSource::Other => (0.2, "other"),
    };
    Contribution::new("source", weight, share, name)
}

fn company_size(lead: &Lead, weight: f64) -> Contribution {
    let Some(employees) = lead.employees else {
        return Contribution::new("company_size", weight, 0.0, "employee count unknown");
    };
    let (share, band) = match employees {
        1000.. => (1.0, "1000+"),
        250..=999 => (0.8, "250-999"),
        50..=249 => (0.6, "50-249"),
        10..=49 => (0.3, "10-49"),
        _ => (0.1, "under 10"),
    };
    Contribution::new("company_size", weight, share, format!("{employees} employees ({band})"))
}

fn country(lead: &Lead, settings: &Settings) -> Contribution {
    let weight = settings.weights.country;
    if settings.target_countries.is_empty() {
        return Contribution::new("country", weight, 0.0, "not scored, no target_countries configured");
    }
    let Some(country) = lead.country.as_deref().map(str::trim).filter(|c| !c.is_empty()) else {
        return Contribution::new("country", weight, 0.0, "unknown");
    };
    if settings.target_countries.contains(&country.to_uppercase()) {
        Contribution::new("country", weight, 1.0, format!("{country} is a target country"))
    } else {
        Contribution::new("country", weight, 0.0, format!("{country} is not a target country"))
    }
}

fn email(domain: &str, settings: &Settings) -> Contribution {
    let weight = settings.weights.email_domain;
    if is_free_mail(domain, &settings.extra_free_mail) {
        Contribution::new("email_domain", weight, -1.0, format!("free-mail domain {domain}"))
    } else {
        Contribution::new("email_domain", weight, 1.0, format!("business domain {domain}"))
    }
}

fn engagement(lead: &Lead, weight: f64) -> Contribution {
    let demo = lead.demo_requested.unwrap_or(false);
    let views = lead.page_views.unwrap_or(0);
    let opens = lead.email_opens.unwrap_or(0);
    // Caps keep one bot-like burst of page views or opens from outweighing a demo request.
    let share =
        if demo { 0.5 } else { 0.0 } + 0.3 * f64::from(views.min(20)) / 20.0 + 0.2 * f64::from(opens.min(10)) / 10.0;
    let mut signals = Vec::new();
    if demo {
        signals.push("demo requested".to_string());
    }
    if views > 0 {
        signals.push(format!("{views} page views"));
    }
    if opens > 0 {
        signals.push(format!("{opens} email opens"));
    }
    let why = if signals.is_empty() { "none recorded".to_string() } else { signals.join(", ") };
    Contribution::new("engagement", weight, share, why)
}

/// Scores `lead` with `settings`.
pub fn score(lead: &Lead, settings: &Settings) -> Result<Output, StepError> {
    let domain = email_domain(lead.email.as_deref())?;
    let w = &settings.weights;
    let contributions = [
        source(lead, w.source),
        company_size(lead, w.company_size),
        country(lead, settings),
        email(&domain, settings),
        engagement(lead, w.engagement),
    ];
    let raw: i32 = contributions.iter().map(|c| c.points).sum();
    let clamped = raw.clamp(0, 100);
    let mut reasons: Vec<String> = contributions.iter().map(Contribution::reason).collect();
    if clamped != raw {
        reasons.push(format!("score clamped from {raw} to {clamped}"));
    }
    // Lossless: `clamped` is within 0..=100.
    let score = clamped as u8;
    let grade = if score >= settings.hot_threshold {
        Grade::Hot
    } else if score >= settings.warm_threshold {
        Grade::Warm
    } else {
        Grade::Cold
    };
    Ok(Output { score, grade, reasons })
}

/// The lead-scoring step.
pub struct LeadScore;

impl Step for LeadScore {
    type Input = Input;
    type Output = Output;

    fn run(_ctx: &Context, input: Input) -> Result<Output, StepError> {
        let settings = Settings::from_config()?;
        let output = score(&input.lead, &settings)?;
        // The id, not the email: logs should not carry personal data.
        let id = input.lead.id.as_deref().unwrap_or("(new)");
        log::debug(&format!("lead {id} scored {} ({:?})", output.score, output.grade));
        Ok(output)
    }
}

alur_sdk::export_step!(LeadScore);

#[cfg(test)]
mod tests {
    use super::*;
    use alur_sdk::ErrorKind;
    use alur_sdk::testing::{reset, set_config};
    use serde_json::json;

    fn run(lead: serde_json::Value) -> Result<Output, StepError> {
        let input: Input = serde_json::from_value(json!({ "lead": lead })).unwrap();
        LeadScore::run(&Context::for_test("score"), input)
    }

    fn hot_lead() -> serde_json::Value {
        json!({
            "id": "L-1",
            "email": "ana@acme.io",
            "company": "Acme",
            "employees": 1500,
            "country": "us",
            "source": "Referral",
            "demo_requested": true,
            "page_views": 25,
            "email_opens": 12
        })
    }

    #[test]
    fn hot_lead_scores_full_marks() {
        reset();
        set_config("target_countries", "US, DE ,gb");
        let out = run(hot_lead()).unwrap();
        assert_eq!(out.score, 100);
        assert_eq!(out.grade, Grade::Hot);
        assert_eq!(
            out.reasons,
            vec![
                "+20 source: referral",
                "+25 company_size: 1500 employees (1000+)",
                "+15 country: us is a target country",
                "+15 email_domain: business domain acme.io",
                "+25 engagement: demo requested, 25 page views, 12 email opens",
            ]
        );
    }

    #[test]
    fn cold_free_mail_lead_is_penalised() {
        reset();
        set_config("target_countries", "US");
        let out = run(json!({
            "email": "bob.smith@GMail.com",
            "employees": 30,
            "country": "BR",
            "source": "web",
            "email_opens": 3
        }))
        .unwrap();
        // web 10 + 30 employees 8 (7.5 rounded) + country 0 - free mail 15 + 3 opens 2 (1.5 rounded)
        assert_eq!(out.score, 5);
        assert_eq!(out.grade, Grade::Cold);
        assert!(out.reasons.contains(&"-15 email_domain: free-mail domain gmail.com".to_string()), "{:?}", out.reasons);
        assert!(out.reasons.contains(&"+0 country: BR is not a target country".to_string()), "{:?}", out.reasons);
    }

    #[test]
    fn config_overrides_weights_and_thresholds() {
        reset();
        set_config("weight.source", "0");
        set_config("weight.company_size", "10");
        set_config("weight.country", "0");
        set_config("weight.email_domain", "5");
        set_config("weight.engagement", "50");
        set_config("hot_threshold", "60");
        let out = run(json!({
            "email": "ana@acme.io",
            "employees": 300,
            "source": "referral",
            "demo_requested": true
        }))
        .unwrap();
        // source 0 + size 8 + country 0 + domain 5 + demo 25
        assert_eq!(out.score, 38);
        assert_eq!(out.reasons[0], "+0 source: referral");
        assert_eq!(out.reasons[4], "+25 engagement: demo requested");
        // warm_threshold follows a lower hot_threshold down only when it would exceed it; 38 < 40 stays cold.
        assert_eq!(out.grade, Grade::Cold);

        set_config("warm_threshold", "30");
        assert_eq!(
            run(json!({"email": "ana@acme.io", "employees": 300, "demo_requested": true})).unwrap().grade,
            Grade::Warm
        );
        set_config("hot_threshold", "35");
        set_config("warm_threshold", "20");
        assert_eq!(
            run(json!({"email": "ana@acme.io", "employees": 300, "demo_requested": true})).unwrap().grade,
            Grade::Hot
        );
    }

    #[test]
    fn low_hot_threshold_pulls_the_default_warm_threshold_down() {
        reset();
        set_config("hot_threshold", "10");
        let settings = Settings::from_config().unwrap();
        assert_eq!((settings.hot_threshold, settings.warm_threshold), (10, 10));
    }

    #[test]
    fn bad_config_is_an_internal_error() {
        for (key, value) in [
            ("weight.source", "lots"),
            ("weight.source", "-5"),
            ("weight.engagement", "NaN"),
            ("weight.country", "101"),
            ("hot_threshold", "150"),
            ("warm_threshold", "90"),
        ] {
            reset();
            set_config(key, value);
            let err = run(hot_lead()).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-config"), "{key} = {value}");
        }
    }

    #[test]
    fn missing_or_malformed_email_is_invalid_input() {
        reset();
        for (lead, code) in [
            (json!({"company": "Acme"}), "missing-email"),
            (json!({"email": "   "}), "missing-email"),
            (json!({"email": "ana.acme.io"}), "invalid-email"),
            (json!({"email": "@acme.io"}), "invalid-email"),
            (json!({"email": "ana@localhost"}), "invalid-email"),
            (json!({"email": "ana@acme..io"}), "invalid-email"),
            (json!({"email": "ana@a@acme.io"}), "invalid-email"),
            (json!({"email": "ana maria@acme.io"}), "invalid-email"),
        ] {
            let err = run(lead.clone()).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::InvalidInput, code), "{lead}");
        }
    }

    #[test]
    fn input_that_does_not_fit_is_invalid_input() {
        reset();
        let ctx = Context::for_test("score");
        for input in ["{}", r#"{"lead": {"email": "a@b.io", "employees": -3}}"#, "not json"] {
            let err = alur_sdk::__private::run_json::<LeadScore>(&ctx, input).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput, "{input}");
        }
    }

    #[test]
    fn score_is_clamped_at_both_ends() {
        reset();
        for key in
            ["weight.source", "weight.company_size", "weight.country", "weight.email_domain", "weight.engagement"]
        {
            set_config(key, "100");
        }
        set_config("target_countries", "US");
        let out = run(hot_lead()).unwrap();
        assert_eq!(out.score, 100);
        assert_eq!(out.reasons.last().unwrap(), "score clamped from 500 to 100");

        reset();
        let out = run(json!({"email": "someone@yahoo.co.uk"})).unwrap();
        assert_eq!(out.score, 0);
        assert_eq!(out.grade, Grade::Cold);
        assert_eq!(out.reasons.last().unwrap(), "score clamped from -15 to 0");
    }

    #[test]
    fn every_factor_gives_a_reason() {
        reset();
        let out = run(json!({"email": "ana@acme.io"})).unwrap();
        assert_eq!(
            out.reasons,
            vec![
                "+0 source: unknown",
                "+0 company_size: employee count unknown",
                "+0 country: not scored, no target_countries configured",
                "+15 email_domain: business domain acme.io",
                "+0 engagement: none recorded",
            ]
        );
        assert_eq!((out.score, out.grade), (15, Grade::Cold));
    }

    #[test]
    fn free_mail_detection() {
        let extra = vec!["posteo.de".to_string()];
        for domain in [
            "gmail.com",
            "yahoo.com",
            "yahoo.co.uk",
            "hotmail.fr",
            "outlook.com",
            "live.com.au",
            "gmx.net",
            "posteo.de",
        ] {
            assert!(is_free_mail(domain, &extra), "{domain}");
        }
        for domain in ["acme.io", "outlook.acme.com", "mail.gmail.com.evil.io", "yahoo.example", "posteo.com"] {
            assert!(!is_free_mail(domain, &extra), "{domain}");
        }
    }

    #[test]
    fn extra_free_mail_domains_come_from_config() {
        reset();
        set_config("free_mail_domains", "Posteo.de, mailbox.org");
        let out = run(json!({"email": "ana@mailbox.org"})).unwrap();
        assert!(
            out.reasons.contains(&"-15 email_domain: free-mail domain mailbox.org".to_string()),
            "{:?}",
            out.reasons
        );
    }

    #[test]
    fn output_json_shape() {
        reset();
        let ctx = Context::for_test("score");
        let out = alur_sdk::__private::run_json::<LeadScore>(&ctx, &json!({ "lead": hot_lead() }).to_string()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["score"], 85);
        assert_eq!(value["grade"], "hot");
        assert_eq!(value["reasons"].as_array().unwrap().len(), 5);
    }
}
