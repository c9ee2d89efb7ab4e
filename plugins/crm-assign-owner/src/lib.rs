//! # crm-assign-owner: give a lead or a support case an owner from a team, and take the assignment back
//!
//! The step picks an owner from the team in its config, round-robin or least-loaded, and counts every owner's open
//! assignments in the plugin's kv state. The same plugin in `release` mode gives an assignment back (its owner's
//! count goes down by one), so a process names it as the `undo` of the assigning step, or runs it when a case is
//! resolved.
//!
//! ## Input
//!
//! To assign: `{"lead": Lead}` or `{"case": {"id": "C-1", ...}}`, optionally with `"country"`, which overrides
//! the lead's country for the territory lookup. One of `lead` and `case` is required, so that a definition whose
//! jq lost the record fails loudly instead of handing out owners for nothing.
//!
//! ```json
//! {"lead": {"id": "L-1", "email": "ana@acme.io", "country": "DE"}}
//! ```
//!
//! To release: `{"owner": "ana"}` with `mode: release` in the config, or `{"owner": "ana", "release": true}`.
//! The assigning step's own output (`{owner, strategy, load}`) is a valid release input, which is what an `undo`
//! step receives by default.
//!
//! ## Config
//!
//! | key           | default       | meaning                                                                    |
//! |---------------|---------------|----------------------------------------------------------------------------|
//! | `owners`      | none          | comma-separated owners, in the order round-robin walks them (`ana,ben,chen`) |
//! | `strategy`    | `round-robin` | `round-robin`: the next owner after the last one picked; `least-loaded`: the owner with the fewest open assignments, ties broken round-robin |
//! | `territories` | none          | JSON object, country → owners (a list or a comma-separated string), e.g. `{"DE": ["chen"], "US": "ana,ben"}`; countries compare case-insensitively; a country not listed uses `owners` |
//! | `max_load`    | none          | an owner with this many open assignments gets no more                      |
//! | `team`        | `default`     | names the kv state (cursor and counters), so that two teams sharing the plugin (sales, support) count separately |
//! | `mode`        | `assign`      | `assign` or `release`                                                       |
//!
//! A config that does not parse, a `team` with characters other than letters, digits, `-` and `_`, or an
//! assignment with no owner configured at all is an `invalid-config` internal error: the definition is wrong.
//!
//! ## State
//!
//! `<team>/last/<pool>` holds the owner picked last from a pool (`*` for `owners`, the upper-cased country for a
//! territory); storing the name rather than an index keeps the rotation sensible when the list is edited.
//! `<team>/load/<owner>` holds the owner's open assignments.
//!
//! ## Output
//!
//! `{"owner": "ben", "strategy": "round-robin" | "least-loaded" | "release", "load": 3}`: the owner and their open
//! assignments after this step, plus `"territory": "DE"` when a territory decided.
//!
//! ## Errors
//!
//! `business` `no-capacity` when every candidate is at `max_load`. `invalid-input` `missing-record` (assigning
//! with neither `lead` nor `case`), `missing-owner` (releasing without an owner), or `invalid-input` (the JSON does
//! not fit). Releasing an owner without open assignments is not an error: compensation must be safe to repeat, so
//! the count stays at zero and a warning is logged.

use alur_sdk::records::crm::Lead;
use alur_sdk::{Context, Step, StepError, config, kv, log};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A support case, as far as assignment needs it; the rest of the record is ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRef {
    /// The CRM's id.
    pub id: String,
    /// The customer's country, when the CRM has it on the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// The step's input.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Input {
    /// The lead to assign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<Lead>,
    /// The case to assign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseRef>,
    /// Overrides the record's country for the territory lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The owner whose assignment to release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Release instead of assign, whatever the config's `mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<bool>,
}

/// How the owner is picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The next owner after the one picked last.
    RoundRobin,
    /// The owner with the fewest open assignments.
    LeastLoaded,
    /// Not a pick: an assignment was given back.
    Release,
}

impl Strategy {
    /// The name as the config and the output write it.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round-robin",
            Strategy::LeastLoaded => "least-loaded",
            Strategy::Release => "release",
        }
    }
}

/// The step's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// The owner assigned or released.
    pub owner: String,
    /// How the owner was picked.
    pub strategy: Strategy,
    /// The owner's open assignments after this step.
    pub load: u32,
    /// The upper-cased country whose territory decided, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub territory: Option<String>,
}

/// Everything the step reads from its config.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The kv namespace.
    pub team: String,
    /// The default pool.
    pub owners: Vec<String>,
    /// Upper-cased country → its pool.
    pub territories: BTreeMap<String, Vec<String>>,
    /// Round-robin or least-loaded.
    pub strategy: Strategy,
    /// Most open assignments per owner.
    pub max_load: Option<u32>,
    /// Whether the step releases by default.
    pub release: bool,
}

fn invalid_config(message: impl Into<String>) -> StepError {
    StepError::internal("invalid-config", message)
}

/// Splits a comma-separated list, trims it and drops blanks and repeats (the first one counts).
fn owner_list(raw: &str) -> Vec<String> {
    let mut owners: Vec<String> = Vec::new();
    for owner in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if !owners.iter().any(|o| o == owner) {
            owners.push(owner.to_string());
        }
    }
    owners
}

/// A territory's owners as written in the config: a list or a comma-separated string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Owners {
    List(Vec<String>),
    Text(String),
}

impl Settings {
    /// Reads the settings from the step's config, with the documented defaults.
    pub fn from_config() -> Result<Self, StepError> {
        let team = config::get("team").map(|t| t.trim().to_string()).unwrap_or_else(|| "default".into());
        if team.is_empty() || !team.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(invalid_config(format!(
                "config key `team` = `{team}` must be letters, digits, `-` and `_` (it names kv keys)"
            )));
        }
        let strategy = match config::get("strategy").as_deref().map(str::trim) {
            None | Some("round-robin") => Strategy::RoundRobin,
            Some("least-loaded") => Strategy::LeastLoaded,
            Some(other) => {
                return Err(invalid_config(format!(
                    "config key `strategy` = `{other}`: expected `round-robin` or `least-loaded`"
                )));
            }
        };
        let release = match config::get("mode").as_deref().map(str::trim) {
            None | Some("assign") => false,
            Some("release") => true,
            Some(other) => {
                return Err(invalid_config(format!("config key `mode` = `{other}`: expected `assign` or `release`")));
            }
        };
        let max_load = config::parse::<u32>("max_load")?;
        if max_load == Some(0) {
            return Err(invalid_config("config key `max_load` = 0 would never assign anyone"));
        }
        let mut territories = BTreeMap::new();
        for (country, owners) in config::json::<BTreeMap<String, Owners>>("territories")?.unwrap_or_default() {
            let owners = match owners {
                Owners::List(list) => owner_list(&list.join(",")),
                Owners::Text(text) => owner_list(&text),
            };
            if owners.is_empty() {
                return Err(invalid_config(format!("territory `{country}` in config key `territories` has no owners")));
            }
            territories.insert(country.trim().to_uppercase(), owners);
        }
        let owners = owner_list(&config::get("owners").unwrap_or_default());
        Ok(Settings { team, owners, territories, strategy, max_load, release })
    }

    /// The pool for `country`: its territory's owners if it has one, else `owners`.
    pub fn pool(&self, country: Option<&str>) -> (Option<String>, &[String]) {
        if let Some(country) = country.map(|c| c.trim().to_uppercase()).filter(|c| !c.is_empty())
            && let Some(owners) = self.territories.get(&country)
        {
            return (Some(country), owners);
        }
        (None, &self.owners)
    }

    fn load_key(&self, owner: &str) -> String {
        format!("{}/load/{owner}", self.team)
    }

    fn last_key(&self, territory: Option<&str>) -> String {
        format!("{}/last/{}", self.team, territory.unwrap_or("*"))
    }
}

/// An owner's open assignments.
pub fn load(settings: &Settings, owner: &str) -> Result<u32, StepError> {
    Ok(kv::get::<u32>(&settings.load_key(owner))?.unwrap_or(0))
}

/// `pool` rotated to start right after `last` (from the top when `last` is not in it).
fn rotation<'a>(pool: &'a [String], last: Option<&str>) -> impl Iterator<Item = &'a String> {
    let start = last.and_then(|l| pool.iter().position(|o| o == l)).map_or(0, |i| i + 1);
    pool.iter().cycle().skip(start).take(pool.len())
}

/// Picks an owner for a record from `country`, counts the assignment and remembers the pick.
pub fn assign(settings: &Settings, country: Option<&str>) -> Result<Output, StepError> {
    let (territory, pool) = settings.pool(country);
    if pool.is_empty() {
        return Err(invalid_config("no owners: set config key `owners` (and optionally `territories`)"));
    }
    let last_key = settings.last_key(territory.as_deref());
    let last: Option<String> = kv::get(&last_key)?;
    let mut best: Option<(&String, u32)> = None;
    for owner in rotation(pool, last.as_deref()) {
        let load = load(settings, owner)?;
        if settings.max_load.is_some_and(|max| load >= max) {
            continue;
        }
        match settings.strategy {
            Strategy::LeastLoaded => {
                // Strictly fewer: among equals the rotation order decides, so ties share the work round-robin.
                if best.is_none_or(|(_, fewest)| load < fewest) {
                    best = Some((owner, load));
                }
            }
            _ => {
                best = Some((owner, load));
                break;
            }
        }
    }
    let Some((owner, load)) = best else {
        let max = settings.max_load.unwrap_or(u32::MAX);
        return Err(StepError::business(
            "no-capacity",
            format!(
                "every owner of {} has {max} open assignments (max_load)",
                territory.as_deref().unwrap_or("the team")
            ),
        ));
    };
    let load = load.saturating_add(1);
    kv::set(&settings.load_key(owner), &load)?;
    kv::set(&last_key, owner)?;
    Ok(Output { owner: owner.clone(), strategy: settings.strategy, load, territory })
}

/// Gives one of `owner`'s assignments back.
pub fn release(settings: &Settings, owner: &str) -> Result<Output, StepError> {
    let owner = owner.trim();
    if owner.is_empty() {
        return Err(StepError::invalid_input("missing-owner", "releasing needs the `owner` whose assignment ends"));
    }
    let before = load(settings, owner)?;
    if before == 0 {
        log::warn(&format!("release: {owner} has no open assignments in team {}; nothing to give back", settings.team));
    }
    let load = before.saturating_sub(1);
    if load == 0 {
        kv::delete(&settings.load_key(owner));
    } else {
        kv::set(&settings.load_key(owner), &load)?;
    }
    Ok(Output { owner: owner.to_string(), strategy: Strategy::Release, load, territory: None })
}

/// The owner-assignment step.
pub struct AssignOwner;

impl Step for AssignOwner {
    type Input = Input;
    type Output = Output;

    fn run(_ctx: &Context, input: Input) -> Result<Output, StepError> {
        let settings = Settings::from_config()?;
        if input.release.unwrap_or(settings.release) {
            let owner = input.owner.as_deref().unwrap_or_default();
            return release(&settings, owner);
        }
        let (id, record_country) = match (&input.lead, &input.case) {
            (Some(lead), _) => (lead.id.as_deref().unwrap_or("(new lead)"), lead.country.as_deref()),
            (None, Some(case)) => (case.id.as_str(), case.country.as_deref()),
            (None, None) => {
                return Err(StepError::invalid_input(
                    "missing-record",
                    "assigning needs the `lead` or the `case` to assign",
                ));
            }
        };
        let out = assign(&settings, input.country.as_deref().or(record_country))?;
        log::info(&format!("{id} assigned to {} ({}, load {})", out.owner, out.strategy.name(), out.load));
        Ok(out)
    }
}

alur_sdk::export_step!(AssignOwner);

#[cfg(test)]
mod tests {
    use super::*;
    use alur_sdk::ErrorKind;
    use alur_sdk::testing::{reset, set_config, snapshot};
    use serde_json::{Value, json};

    fn run(input: Value) -> Result<Output, StepError> {
        let ctx = Context::for_test("assign");
        let out = alur_sdk::__private::run_json::<AssignOwner>(&ctx, &input.to_string())?;
        Ok(serde_json::from_str(&out).unwrap())
    }

    fn lead(country: &str) -> Value {
        json!({"lead": {"id": "L-1", "email": "ana@acme.io", "country": country}})
    }

    fn owners_of(inputs: &[Value]) -> Vec<String> {
        inputs.iter().map(|i| run(i.clone()).unwrap().owner).collect()
    }

    fn kv_value(key: &str) -> Option<Value> {
        snapshot().kv.get(key).map(|b| serde_json::from_slice(b).unwrap())
    }

    #[test]
    fn round_robin_walks_the_team_and_wraps() {
        reset();
        set_config("owners", "ana, ben ,chen");
        let picks = owners_of(&[lead("US"), lead("US"), lead("US"), lead("US")]);
        assert_eq!(picks, ["ana", "ben", "chen", "ana"]);
        assert_eq!(kv_value("default/load/ana"), Some(json!(2)));
        assert_eq!(kv_value("default/last/*"), Some(json!("ana")));
        let out = run(lead("US")).unwrap();
        assert_eq!((out.owner.as_str(), out.strategy, out.load), ("ben", Strategy::RoundRobin, 2));
    }

    #[test]
    fn round_robin_survives_an_edited_team() {
        reset();
        set_config("owners", "ana,ben,chen");
        assert_eq!(owners_of(&[lead("US"), lead("US")]), ["ana", "ben"]);
        // ben is still in the list: the rotation continues after him, wherever he now is.
        set_config("owners", "ben,dora,ana");
        assert_eq!(owners_of(&[lead("US"), lead("US")]), ["dora", "ana"]);
        // The last pick left the team: start from the top.
        set_config("owners", "eve,fred");
        assert_eq!(owners_of(&[lead("US")]), ["eve"]);
    }

    #[test]
    fn least_loaded_picks_the_fewest_and_breaks_ties_round_robin() {
        reset();
        set_config("owners", "ana,ben,chen");
        set_config("strategy", "least-loaded");
        kv::set("default/load/ana", &3u32).unwrap();
        kv::set("default/load/ben", &1u32).unwrap();
        kv::set("default/load/chen", &1u32).unwrap();
        // ben and chen tie at 1: ben first (top of the rotation), then chen (now fewer), then ben again.
        assert_eq!(owners_of(&[lead("US"), lead("US"), lead("US")]), ["ben", "chen", "ben"]);
        assert_eq!(kv_value("default/load/ben"), Some(json!(3)));
        assert_eq!(kv_value("default/load/chen"), Some(json!(2)));
        let out = run(lead("US")).unwrap();
        assert_eq!((out.owner.as_str(), out.strategy, out.load), ("chen", Strategy::LeastLoaded, 3));
    }

    #[test]
    fn territories_route_by_country_with_their_own_rotation() {
        reset();
        set_config("owners", "ana,ben");
        set_config("territories", r#"{"de": ["chen", "dora"], "FR": "emile"}"#);
        let out = run(lead("DE")).unwrap();
        assert_eq!((out.owner.as_str(), out.territory.as_deref()), ("chen", Some("DE")));
        assert_eq!(run(lead("de")).unwrap().owner, "dora");
        assert_eq!(run(lead("fr")).unwrap().owner, "emile");
        // A country without a territory, and no country at all, use `owners`.
        assert_eq!(owners_of(&[lead("BR"), json!({"lead": {"email": "x@y.io"}})]), ["ana", "ben"]);
        assert_eq!(kv_value("default/last/DE"), Some(json!("dora")));
        // The input's country overrides the record's.
        let mut input = lead("US");
        input["country"] = json!("FR");
        assert_eq!(run(input).unwrap().owner, "emile");
    }

    #[test]
    fn a_case_is_assigned_like_a_lead() {
        reset();
        set_config("owners", "dana,eli");
        set_config("team", "support");
        let out = run(json!({"case": {"id": "C-9", "priority": "P1", "opened_at": "2025-01-06T09:00:00Z"}})).unwrap();
        assert_eq!((out.owner.as_str(), out.load), ("dana", 1));
        assert_eq!(kv_value("support/load/dana"), Some(json!(1)));
        assert!(kv_value("default/load/dana").is_none(), "teams keep separate counters");
        assert!(snapshot().logs.iter().any(|(_, line)| line.contains("C-9 assigned to dana")));
    }

    #[test]
    fn release_gives_the_assignment_back_and_is_safe_to_repeat() {
        reset();
        set_config("owners", "ana,ben");
        set_config("strategy", "least-loaded");
        let assigned = run(lead("US")).unwrap();
        assert_eq!((assigned.owner.as_str(), assigned.load), ("ana", 1));
        // The undo step receives the assigning step's output as is.
        set_config("mode", "release");
        let released = run(serde_json::to_value(&assigned).unwrap()).unwrap();
        assert_eq!((released.owner.as_str(), released.strategy, released.load), ("ana", Strategy::Release, 0));
        assert!(kv_value("default/load/ana").is_none());
        let again = run(json!({"owner": "ana"})).unwrap();
        assert_eq!(again.load, 0);
        assert!(snapshot().logs.iter().any(|(_, l)| l.contains("no open assignments")));
        // An input flag releases too, whatever the mode.
        set_config("mode", "assign");
        run(lead("US")).unwrap();
        run(lead("US")).unwrap();
        assert_eq!(kv_value("default/load/ana"), Some(json!(1)));
        assert_eq!(run(json!({"owner": "ana", "release": true})).unwrap().load, 0);
    }

    #[test]
    fn max_load_skips_full_owners_and_says_when_all_are_full() {
        reset();
        set_config("owners", "ana,ben");
        set_config("max_load", "1");
        kv::set("default/load/ana", &1u32).unwrap();
        assert_eq!(owners_of(&[lead("US")]), ["ben"]);
        let err = run(lead("US")).unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Business, "no-capacity"));
        // A failed attempt changed nothing.
        assert_eq!(kv_value("default/load/ben"), Some(json!(1)));
        assert_eq!(kv_value("default/last/*"), Some(json!("ben")));
    }

    #[test]
    fn bad_input_is_invalid_input() {
        reset();
        set_config("owners", "ana");
        for (input, code) in [
            (json!({}), "missing-record"),
            (json!({"lead": null}), "missing-record"),
            (json!({"owner": "  ", "release": true}), "missing-owner"),
            (json!({"release": true}), "missing-owner"),
            (json!({"lead": {"employees": -1}}), "invalid-input"),
            (json!({"case": {"priority": "P1"}}), "invalid-input"),
            (json!("ana"), "invalid-input"),
        ] {
            let err = run(input.clone()).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::InvalidInput, code), "{input}");
        }
        assert!(snapshot().kv.is_empty(), "no state was touched");
    }

    #[test]
    fn bad_config_is_an_internal_error() {
        for (key, value) in [
            ("strategy", "random"),
            ("mode", "undo"),
            ("max_load", "0"),
            ("max_load", "many"),
            ("team", "sales/eu"),
            ("territories", "[1, 2]"),
            ("territories", r#"{"DE": ""}"#),
            ("owners", " , "),
        ] {
            reset();
            set_config("owners", "ana");
            set_config(key, value);
            let err = run(lead("DE")).unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Internal, "invalid-config"), "{key} = {value}");
        }
    }

    #[test]
    fn output_json_shape() {
        reset();
        set_config("owners", "ana");
        set_config("strategy", "least-loaded");
        let ctx = Context::for_test("assign");
        let out = alur_sdk::__private::run_json::<AssignOwner>(&ctx, &lead("US").to_string()).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            json!({"owner": "ana", "strategy": "least-loaded", "load": 1})
        );
    }
}
