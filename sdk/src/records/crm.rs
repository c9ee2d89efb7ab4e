//! CRM records: leads, contacts, accounts, opportunities, quotes and support cases.

use super::scm::{Address, Money};
use serde::{Deserialize, Serialize};

/// Where a lead came from.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case", from = "String")]
pub enum LeadSource {
    /// The company website or a web form.
    Web,
    /// Recommended by a customer, an employee or word of mouth.
    Referral,
    /// Brought in by a reseller or partner.
    Partner,
    /// Met at a trade show or conference.
    TradeShow,
    /// Registered for a webinar.
    Webinar,
    /// Answered an advertisement.
    Advertisement,
    /// Came through social media.
    SocialMedia,
    /// Answered an email campaign.
    EmailCampaign,
    /// Reached by outbound cold calling.
    ColdCall,
    /// Any other source.
    Other,
}

lenient_enum!(LeadSource {
    Web => ["web", "website", "web_site", "web_form", "inbound_web"],
    Referral => ["referral", "customer_referral", "employee_referral", "employee", "word_of_mouth"],
    Partner => ["partner", "partner_referral", "reseller"],
    TradeShow => ["trade_show", "tradeshow", "conference", "event"],
    Webinar => ["webinar"],
    Advertisement => ["advertisement", "ad", "ads", "paid_search", "ppc"],
    SocialMedia => ["social_media", "social"],
    EmailCampaign => ["email_campaign", "email", "newsletter"],
    ColdCall => ["cold_call", "outbound", "purchased_list"],
});

/// Where a lead is in qualification.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case", from = "String")]
pub enum LeadStatus {
    /// Not contacted yet.
    New,
    /// Being worked on.
    Contacted,
    /// Qualified as a sales opportunity.
    Qualified,
    /// Not a fit.
    Unqualified,
    /// Converted to a contact, account and opportunity.
    Converted,
    /// Any other status.
    Other,
}

lenient_enum!(LeadStatus {
    New => ["new", "open", "open_not_contacted", "not_contacted"],
    Contacted => ["contacted", "working", "working_contacted", "attempted_to_contact", "contact_in_future"],
    Qualified => ["qualified", "pre_qualified"],
    Unqualified => ["unqualified", "closed_not_converted", "junk_lead", "lost_lead"],
    Converted => ["converted", "closed_converted"],
});

/// A prospective customer that is not qualified yet.
///
/// Every field is optional because leads arrive half-filled from web forms and lists; steps check what they need.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "snake_case")]
pub struct Lead {
    /// The CRM's id; unset for a lead that is not stored yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number, as entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Job title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Company name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Industry of the company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// Number of employees of the company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employees: Option<u32>,
    /// Yearly revenue of the company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annual_revenue: Option<Money>,
    /// Country of the company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Company website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Where the lead came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<LeadSource>,
    /// Qualification status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<LeadStatus>,
    /// The user who owns the lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// Marketing emails the lead opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_opens: Option<u32>,
    /// Website pages the lead viewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_views: Option<u32>,
    /// Whether the lead asked for a demo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demo_requested: Option<bool>,
    /// When the lead was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Free-form labels.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A person at a customer or prospect account.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct Contact {
    /// The CRM's id.
    pub id: String,
    /// The account the contact works for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: String,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Office phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Mobile phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    /// Job title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Postal address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailing_address: Option<Address>,
    /// The source of the lead this contact was converted from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_source: Option<LeadSource>,
}

/// A customer or prospect organisation.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct Account {
    /// The CRM's id.
    pub id: String,
    /// Organisation name.
    pub name: String,
    /// Industry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// Number of employees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employees: Option<u32>,
    /// Yearly revenue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annual_revenue: Option<Money>,
    /// Website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Main phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Country of the headquarters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Where invoices go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    /// Where goods go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<Address>,
    /// The parent account in a group of companies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The user who owns the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
}

/// The sales stage of an opportunity.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case", from = "String")]
pub enum OpportunityStage {
    /// Looking for a need.
    Prospecting,
    /// Checking budget, authority, need and timing.
    Qualification,
    /// Working out what the customer needs.
    NeedsAnalysis,
    /// A proposal or price quote is out.
    Proposal,
    /// Negotiating terms.
    Negotiation,
    /// Won.
    ClosedWon,
    /// Lost.
    ClosedLost,
    /// Any other stage.
    Other,
}

lenient_enum!(OpportunityStage {
    Prospecting => ["prospecting"],
    Qualification => ["qualification"],
    NeedsAnalysis => ["needs_analysis"],
    Proposal => ["proposal", "proposal_price_quote", "proposal_or_price_quote", "quote"],
    Negotiation => ["negotiation", "negotiation_review", "negotiation_or_review"],
    ClosedWon => ["closed_won", "won"],
    ClosedLost => ["closed_lost", "lost"],
});

/// A potential deal with an account.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct Opportunity {
    /// The CRM's id.
    pub id: String,
    /// Deal name.
    pub name: String,
    /// The account the deal is with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Sales stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<OpportunityStage>,
    /// Expected deal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// Chance of winning, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<u8>,
    /// Expected close date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_date: Option<String>,
    /// Where the deal came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_source: Option<LeadSource>,
    /// The user who owns the deal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
}

/// One product line of a [`Quote`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct QuoteLine {
    /// Stock keeping unit of the product.
    pub sku: String,
    /// Line text shown to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Quantity offered.
    pub quantity: i64,
    /// Price of one unit before discount.
    pub unit_price: Money,
    /// Discount on this line, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_percent: Option<f64>,
}

/// A priced offer sent to a customer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct Quote {
    /// The CRM's id.
    pub id: String,
    /// The number printed on the quote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_number: Option<String>,
    /// The opportunity the quote belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity_id: Option<String>,
    /// The customer account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The contact the quote is addressed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// Status as the source system names it (`draft`, `presented`, `accepted`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Last day the offer holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// Products offered.
    #[serde(default)]
    pub lines: Vec<QuoteLine>,
    /// Total after discounts and before tax, as the source system computed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
}

/// How urgent a support case is.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case", from = "String")]
pub enum CasePriority {
    /// Can wait.
    Low,
    /// Normal priority.
    Medium,
    /// Needs attention soon.
    High,
    /// Business is down.
    Urgent,
    /// Any other priority.
    Other,
}

lenient_enum!(CasePriority {
    Low => ["low", "p4"],
    Medium => ["medium", "normal", "p3"],
    High => ["high", "p2"],
    Urgent => ["urgent", "critical", "p1"],
});

/// Where a support case is in its life.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case", from = "String")]
pub enum CaseStatus {
    /// Not looked at yet.
    New,
    /// Being worked on.
    Open,
    /// Waiting for the customer or a third party.
    Pending,
    /// Handed to a higher support level.
    Escalated,
    /// A fix or answer was given.
    Resolved,
    /// Done.
    Closed,
    /// Any other status.
    Other,
}

lenient_enum!(CaseStatus {
    New => ["new"],
    Open => ["open", "working", "in_progress", "assigned"],
    Pending => ["pending", "on_hold", "wait_for_response", "waiting_on_customer"],
    Escalated => ["escalated"],
    Resolved => ["resolved"],
    Closed => ["closed"],
});

/// A customer support case (ticket).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct Case {
    /// The CRM's id.
    pub id: String,
    /// The number shown to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_number: Option<String>,
    /// One-line summary.
    pub subject: String,
    /// Full description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The customer account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The contact who reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CaseStatus>,
    /// Priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<CasePriority>,
    /// Channel it came in through (`email`, `phone`, `web`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// When it was opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When it was closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
}

/// Where a task is in its life.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case", from = "String")]
pub enum TaskStatus {
    /// Nobody has started it.
    NotStarted,
    /// Being worked on.
    InProgress,
    /// Waiting for someone else.
    Waiting,
    /// Put off to later.
    Deferred,
    /// Done.
    Completed,
    /// Any other status.
    Other,
}

lenient_enum!(TaskStatus {
    NotStarted => ["not_started", "open", "new", "planned"],
    InProgress => ["in_progress", "started", "working"],
    Waiting => ["waiting", "waiting_on_someone_else", "pending"],
    Deferred => ["deferred", "postponed"],
    Completed => ["completed", "done", "closed", "held"],
});

/// A to-do for one user, such as calling back a lead or following up on a case.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct Task {
    /// The CRM's id.
    pub id: String,
    /// One-line summary.
    pub subject: String,
    /// The user who has to do it.
    pub owner_id: String,
    /// The day it is due (`2025-03-31`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TaskStatus>,
    /// Priority as the source system names it (`high`, `normal`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Longer text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The id of the record it is about (a lead, a case, an opportunity, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_to: Option<String>,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lead_round_trips_and_omits_unset_fields() {
        let lead = Lead {
            email: Some("ana@acme.io".into()),
            company: Some("Acme".into()),
            employees: Some(250),
            source: Some(LeadSource::TradeShow),
            demo_requested: Some(true),
            ..Lead::default()
        };
        let value = serde_json::to_value(&lead).unwrap();
        assert_eq!(
            value,
            json!({
                "email": "ana@acme.io",
                "company": "Acme",
                "employees": 250,
                "source": "trade_show",
                "demo_requested": true,
                "tags": []
            })
        );
        assert_eq!(serde_json::from_value::<Lead>(value).unwrap(), lead);
    }

    #[test]
    fn empty_lead_decodes_with_defaults() {
        assert_eq!(serde_json::from_str::<Lead>("{}").unwrap(), Lead::default());
    }

    #[test]
    fn picklists_decode_leniently_and_fall_back_to_other() {
        let source: LeadSource = serde_json::from_str(r#""Partner Referral""#).unwrap();
        assert_eq!(source, LeadSource::Partner);
        let stage: OpportunityStage = serde_json::from_str(r#""Proposal/Price Quote""#).unwrap();
        assert_eq!(stage, OpportunityStage::Proposal);
        let status: LeadStatus = serde_json::from_str(r#""Closed - Converted""#).unwrap();
        assert_eq!(status, LeadStatus::Converted);
        let priority: CasePriority = serde_json::from_str(r#""Critical""#).unwrap();
        assert_eq!(priority, CasePriority::Urgent);
        let status: CaseStatus = serde_json::from_str(r#""Waiting on Customer""#).unwrap();
        assert_eq!(status, CaseStatus::Pending);
        let unknown: LeadSource = serde_json::from_str(r#""Carrier pigeon""#).unwrap();
        assert_eq!(unknown, LeadSource::Other);
    }

    #[test]
    fn picklists_serialize_snake_case_and_round_trip() {
        for stage in [
            OpportunityStage::Prospecting,
            OpportunityStage::Qualification,
            OpportunityStage::NeedsAnalysis,
            OpportunityStage::Proposal,
            OpportunityStage::Negotiation,
            OpportunityStage::ClosedWon,
            OpportunityStage::ClosedLost,
            OpportunityStage::Other,
        ] {
            let text = serde_json::to_string(&stage).unwrap();
            assert_eq!(serde_json::from_str::<OpportunityStage>(&text).unwrap(), stage);
        }
        assert_eq!(serde_json::to_string(&OpportunityStage::ClosedWon).unwrap(), r#""closed_won""#);
        assert_eq!(serde_json::to_string(&LeadSource::SocialMedia).unwrap(), r#""social_media""#);
    }

    #[test]
    fn quote_round_trips_with_lines() {
        let quote: Quote = serde_json::from_value(json!({
            "id": "Q-1",
            "account_id": "ACC-9",
            "lines": [
                {"sku": "WID-1", "quantity": 3, "unit_price": {"amount": 9.5, "currency": "EUR"}},
                {"sku": "SVC-2", "quantity": 1, "unit_price": {"amount": 100.0, "currency": "EUR"}, "discount_percent": 10.0}
            ],
            "total": {"amount": 118.5, "currency": "EUR"}
        }))
        .unwrap();
        assert_eq!(quote.lines.len(), 2);
        assert_eq!(quote.lines[1].discount_percent, Some(10.0));
        let again: Quote = serde_json::from_str(&serde_json::to_string(&quote).unwrap()).unwrap();
        assert_eq!(again, quote);
        let value = serde_json::to_value(&quote).unwrap();
        assert!(value.get("opportunity_id").is_none());
        assert!(value["lines"][0].get("discount_percent").is_none());
    }

    #[test]
    fn case_requires_id_and_subject() {
        let err = serde_json::from_value::<Case>(json!({"id": "C-1"})).unwrap_err();
        assert!(err.to_string().contains("subject"), "{err}");
        let case: Case =
            serde_json::from_value(json!({"id": "C-1", "subject": "Printer on fire", "priority": "P1"})).unwrap();
        assert_eq!(case.priority, Some(CasePriority::Urgent));
        assert_eq!(case.status, None);
    }

    #[test]
    fn task_round_trips_and_decodes_status_leniently() {
        let task: Task = serde_json::from_value(json!({
            "id": "T-1",
            "subject": "Call Ana",
            "owner_id": "ben",
            "due_date": "2025-03-31",
            "status": "Not Started"
        }))
        .unwrap();
        assert_eq!(task.status, Some(TaskStatus::NotStarted));
        let value = serde_json::to_value(&task).unwrap();
        assert_eq!(value["status"], "not_started");
        assert!(value.get("related_to").is_none());
        assert_eq!(serde_json::from_value::<Task>(value).unwrap(), task);
        let status: TaskStatus = serde_json::from_str(r#""Waiting on someone else""#).unwrap();
        assert_eq!(status, TaskStatus::Waiting);
    }
}
