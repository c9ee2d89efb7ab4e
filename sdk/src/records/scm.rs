//! SCM records: sales orders, inventory, purchase orders and shipments, plus the shared [`Money`] and [`Address`].

use serde::{Deserialize, Serialize};

/// An amount of money in one currency.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct Money {
    /// The amount, in units of the currency (not cents).
    pub amount: f64,
    /// ISO 4217 currency code, such as `EUR`.
    pub currency: String,
}

impl Money {
    /// An amount in `currency`.
    pub fn new(amount: f64, currency: impl Into<String>) -> Self {
        Money { amount, currency: currency.into() }
    }

    /// An amount given in integer minor units of `currency` (cents for `EUR`, yen for `JPY`).
    pub fn from_minor_units(minor: i64, currency: impl Into<String>) -> Self {
        let currency = currency.into();
        let amount = minor as f64 / 10f64.powi(currency_exponent(&currency) as i32);
        Money { amount, currency }
    }

    /// The amount in integer minor units of its currency, which is what money arithmetic must use: `f64`
    /// cannot hold 0.10 exactly, so sums and tax on the decimal amount drift by fractions of a cent.
    ///
    /// `None` when the amount is not finite, is too large to convert exactly (beyond 2^53 minor units), or has
    /// more decimals than the currency's minor unit (`19.999 EUR`): such an amount has no exact meaning here
    /// and must be rejected rather than rounded silently.
    ///
    /// ```
    /// use alur_sdk::records::Money;
    /// assert_eq!(Money::new(19.99, "EUR").to_minor_units(), Some(1999));
    /// assert_eq!(Money::new(1500.0, "JPY").to_minor_units(), Some(1500));
    /// assert_eq!(Money::new(1.234, "KWD").to_minor_units(), Some(1234));
    /// assert_eq!(Money::new(19.999, "EUR").to_minor_units(), None);
    /// ```
    pub fn to_minor_units(&self) -> Option<i64> {
        const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer up to here is exact in f64
        if !self.amount.is_finite() {
            return None;
        }
        let scaled = self.amount * 10f64.powi(currency_exponent(&self.currency) as i32);
        let rounded = scaled.round();
        if rounded.abs() > EXACT_LIMIT {
            return None;
        }
        // The decimal in the JSON was rounded once to the nearest f64 and scaled once: the error is a few ulps
        // of the scaled value, far below any real sub-minor digit.
        let slack = scaled.abs() * 4.0 * f64::EPSILON + 1e-9;
        if (scaled - rounded).abs() > slack {
            return None;
        }
        Some(rounded as i64)
    }
}

/// Decimal digits of the minor unit of an ISO 4217 currency: 2 for most (`EUR`, `USD`), 0 for currencies
/// without a minor unit in use (`JPY`, `KRW`, ...), 3 for the dinar-style ones (`KWD`, `BHD`, ...), 4 for the
/// accounting units `CLF` and `UYW`. Codes are matched case-insensitively; an unknown code counts as 2.
pub fn currency_exponent(currency: &str) -> u32 {
    const ZERO: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF",
        "XPF",
    ];
    const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    const FOUR: &[&str] = &["CLF", "UYW"];
    let code = currency.trim().to_ascii_uppercase();
    if ZERO.contains(&code.as_str()) {
        0
    } else if THREE.contains(&code.as_str()) {
        3
    } else if FOUR.contains(&code.as_str()) {
        4
    } else {
        2
    }
}

/// A postal address.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "snake_case")]
pub struct Address {
    /// Street and number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// Second address line (building, floor, c/o).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street2: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State, province or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Postal or ZIP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Where a sales order is in its life.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case", from = "String")]
pub enum OrderStatus {
    /// Being entered; not binding yet.
    Draft,
    /// Accepted and to be fulfilled.
    Confirmed,
    /// Handed to a carrier.
    Shipped,
    /// Received by the customer.
    Delivered,
    /// Called off.
    Cancelled,
    /// Any other status.
    Other,
}

lenient_enum!(OrderStatus {
    Draft => ["draft", "created", "new"],
    Confirmed => ["confirmed", "approved", "activated", "open"],
    Shipped => ["shipped", "fulfilled"],
    Delivered => ["delivered", "completed"],
    Cancelled => ["cancelled", "canceled"],
});

/// One line of a sales [`Order`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct OrderLine {
    /// The line's id in the source system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_id: Option<String>,
    /// Stock keeping unit of the product.
    pub sku: String,
    /// Product name or line text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Units ordered.
    pub quantity: i64,
    /// Price of one unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Money>,
}

/// A customer's sales order.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct Order {
    /// The source system's id.
    pub id: String,
    /// The order number shown to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    /// The customer account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OrderStatus>,
    /// When the order was placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_date: Option<String>,
    /// The warehouse expected to fulfil it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// Products ordered.
    #[serde(default)]
    pub lines: Vec<OrderLine>,
    /// Where the goods go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<Address>,
    /// Where the invoice goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    /// Order total, as the source system computed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
}

/// The stock of one product in one warehouse.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct InventoryItem {
    /// Stock keeping unit.
    pub sku: String,
    /// Product name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Warehouse holding the stock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// Units physically in stock; negative when the source system allows overselling.
    pub on_hand: i64,
    /// Units on hand already promised to other orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved: Option<i64>,
    /// Stock level at which to reorder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder_point: Option<i64>,
    /// Cost of one unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_cost: Option<Money>,
    /// When the stock level was last counted or synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl InventoryItem {
    /// Units free to promise: on hand minus reserved, never below zero.
    pub fn available(&self) -> i64 {
        self.on_hand.saturating_sub(self.reserved.unwrap_or(0)).max(0)
    }
}

/// Where a purchase order to a supplier is in its life.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case", from = "String")]
pub enum PurchaseOrderStatus {
    /// Being prepared.
    Draft,
    /// Sent to the supplier.
    Ordered,
    /// Some of the goods arrived.
    PartiallyReceived,
    /// All goods arrived.
    Received,
    /// Called off.
    Cancelled,
    /// Any other status.
    Other,
}

lenient_enum!(PurchaseOrderStatus {
    Draft => ["draft", "created"],
    Ordered => ["ordered", "approved", "sent", "submitted"],
    PartiallyReceived => ["partially_received", "partial"],
    Received => ["received", "received_shipment", "delivered"],
    Cancelled => ["cancelled", "canceled"],
});

/// One line of a [`PurchaseOrder`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct PurchaseOrderLine {
    /// Our stock keeping unit.
    pub sku: String,
    /// The supplier's article number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier_sku: Option<String>,
    /// Units ordered.
    pub quantity: i64,
    /// Units received so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_quantity: Option<i64>,
    /// Cost of one unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_cost: Option<Money>,
}

/// An order placed with a supplier to replenish stock.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct PurchaseOrder {
    /// The source system's id.
    pub id: String,
    /// The supplier (vendor) id.
    pub supplier_id: String,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PurchaseOrderStatus>,
    /// When the order was placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_date: Option<String>,
    /// When the goods are expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_date: Option<String>,
    /// The warehouse receiving the goods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// Products ordered.
    #[serde(default)]
    pub lines: Vec<PurchaseOrderLine>,
    /// Order total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
}

/// Where a shipment is on its way.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case", from = "String")]
pub enum ShipmentStatus {
    /// Prepared but not handed to the carrier.
    Pending,
    /// With the carrier.
    InTransit,
    /// Arrived.
    Delivered,
    /// Sent back to the shipper.
    Returned,
    /// The carrier reported a problem (failed delivery, damage, loss).
    Exception,
    /// Any other status.
    Other,
}

lenient_enum!(ShipmentStatus {
    Pending => ["pending", "created", "label_created", "ready", "packed"],
    InTransit => ["in_transit", "shipped", "out_for_delivery"],
    Delivered => ["delivered"],
    Returned => ["returned", "return_to_sender"],
    Exception => ["exception", "failed", "failed_attempt", "lost", "damaged"],
});

/// Goods sent to a customer for an [`Order`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct Shipment {
    /// The source system's id.
    pub id: String,
    /// The order shipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ShipmentStatus>,
    /// Carrier name, such as `DHL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// The carrier's service level, such as `express` or `parcel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Gross weight in grams, which is what carriers price and limit by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_grams: Option<i64>,
    /// The carrier's tracking number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    /// The warehouse it left from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// Where it goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to: Option<Address>,
    /// The order lines (or parts of them) in this shipment.
    #[serde(default)]
    pub lines: Vec<OrderLine>,
    /// When it was handed to the carrier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipped_at: Option<String>,
    /// When the carrier expects to deliver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_delivery: Option<String>,
    /// When it arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_round_trips_and_omits_unset_fields() {
        let order = Order {
            id: "SO-1".into(),
            order_number: None,
            account_id: Some("ACC-9".into()),
            status: Some(OrderStatus::Confirmed),
            order_date: Some("2025-03-31".into()),
            warehouse: None,
            lines: vec![OrderLine {
                line_id: None,
                sku: "WID-1".into(),
                description: None,
                quantity: 4,
                unit_price: Some(Money::new(9.5, "EUR")),
            }],
            shipping_address: Some(Address {
                city: Some("Berlin".into()),
                country: Some("DE".into()),
                ..Default::default()
            }),
            billing_address: None,
            total: Some(Money::new(38.0, "EUR")),
        };
        let value = serde_json::to_value(&order).unwrap();
        assert_eq!(
            value,
            json!({
                "id": "SO-1",
                "account_id": "ACC-9",
                "status": "confirmed",
                "order_date": "2025-03-31",
                "lines": [{"sku": "WID-1", "quantity": 4, "unit_price": {"amount": 9.5, "currency": "EUR"}}],
                "shipping_address": {"city": "Berlin", "country": "DE"},
                "total": {"amount": 38.0, "currency": "EUR"}
            })
        );
        assert_eq!(serde_json::from_value::<Order>(value).unwrap(), order);
    }

    #[test]
    fn order_without_lines_decodes_to_empty_lines() {
        let order: Order = serde_json::from_str(r#"{"id": "SO-2", "status": "Canceled"}"#).unwrap();
        assert!(order.lines.is_empty());
        assert_eq!(order.status, Some(OrderStatus::Cancelled));
    }

    #[test]
    fn inventory_available_subtracts_reserved_and_never_goes_negative() {
        let mut item: InventoryItem = serde_json::from_str(r#"{"sku": "WID-1", "on_hand": 10}"#).unwrap();
        assert_eq!(item.available(), 10);
        item.reserved = Some(4);
        assert_eq!(item.available(), 6);
        item.on_hand = -2;
        assert_eq!(item.available(), 0);
    }

    #[test]
    fn money_converts_to_exact_minor_units_or_refuses() {
        assert_eq!(Money::new(0.1, "EUR").to_minor_units(), Some(10));
        assert_eq!(Money::new(0.29, "usd").to_minor_units(), Some(29));
        assert_eq!(Money::new(-12.34, "EUR").to_minor_units(), Some(-1234));
        assert_eq!(Money::new(123_456_789.01, "EUR").to_minor_units(), Some(12_345_678_901));
        assert_eq!(Money::new(12.5, "JPY").to_minor_units(), None);
        assert_eq!(Money::new(0.001, "EUR").to_minor_units(), None);
        assert_eq!(Money::new(f64::NAN, "EUR").to_minor_units(), None);
        assert_eq!(Money::new(1e300, "EUR").to_minor_units(), None);
        assert_eq!(Money::from_minor_units(1999, "EUR"), Money::new(19.99, "EUR"));
        assert_eq!(Money::from_minor_units(1234, "KWD").to_minor_units(), Some(1234));
        assert_eq!((currency_exponent("jpy"), currency_exponent("EUR"), currency_exponent("XYZ")), (0, 2, 2));
    }

    #[test]
    fn shipment_and_purchase_order_round_trip() {
        let shipment: Shipment = serde_json::from_value(json!({
            "id": "SH-1",
            "order_id": "SO-1",
            "status": "Out for delivery",
            "carrier": "DHL",
            "lines": [{"sku": "WID-1", "quantity": 2}]
        }))
        .unwrap();
        assert_eq!(shipment.status, Some(ShipmentStatus::InTransit));
        let text = serde_json::to_string(&shipment).unwrap();
        assert!(text.contains(r#""status":"in_transit""#), "{text}");
        assert_eq!(serde_json::from_str::<Shipment>(&text).unwrap(), shipment);

        let po: PurchaseOrder = serde_json::from_value(json!({
            "id": "PO-7",
            "supplier_id": "SUP-3",
            "status": "Received Shipment",
            "lines": [{"sku": "WID-1", "quantity": 100, "received_quantity": 100}]
        }))
        .unwrap();
        assert_eq!(po.status, Some(PurchaseOrderStatus::Received));
        assert_eq!(serde_json::from_str::<PurchaseOrder>(&serde_json::to_string(&po).unwrap()).unwrap(), po);
    }
}
