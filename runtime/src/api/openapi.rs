//! `GET /openapi.json`, generated from the handlers' annotations, and `GET /docs`, a reference page rendered
//! from that document on the server (no script, no CDN: it works on an air-gapped host).

use super::AppState;
use axum::Json;
use axum::Router;
use axum::response::Html;
use axum::routing::get;
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Alur", description = "Multi-tenant business-process runtime: tenants, step plugins (WebAssembly components), process definitions and their instances. Every request carries `Authorization: Bearer <key>`: the admin key for `/v1/tenants`, a tenant's key for everything else."),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::tenants::create,
        super::tenants::list,
        super::tenants::one,
        super::tenants::rotate,
        super::tenants::set_quota,
        super::tenants::get_quota,
        super::plugins::upload,
        super::plugins::list,
        super::plugins::one,
        super::plugins::remove,
        super::processes::deploy,
        super::processes::list,
        super::processes::one,
        super::processes::version,
        super::processes::start,
        super::instances::list,
        super::instances::one,
        super::instances::history,
        super::instances::signal,
        super::instances::cancel,
        super::secrets::set,
        super::secrets::list,
        super::secrets::remove,
    ),
    components(schemas(
        super::error::ErrorBody,
        super::error::ErrorDetail,
        super::instances::InstanceView,
        super::processes::StartBody,
        super::tenants::CreateTenant,
        super::secrets::SecretValue,
        crate::quota::Quota,
        crate::process::definition::Problem,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

fn document() -> &'static (Arc<serde_json::Value>, Arc<str>) {
    static DOC: OnceLock<(Arc<serde_json::Value>, Arc<str>)> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        let json = serde_json::to_value(&doc).unwrap_or_default();
        let html = render(&json);
        (Arc::new(json), html.into())
    })
}

/// Routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(document().0.as_ref().clone()) }))
        .route("/docs", get(|| async { Html(document().1.to_string()) }))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One section per path and method: summary, description, parameters, request body and responses.
fn render(doc: &serde_json::Value) -> String {
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let mut out = format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{t} API reference</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         code,pre{{background:#f4f4f4;padding:.1rem .3rem}} h2{{border-top:1px solid #ddd;padding-top:1rem}}\
         .m{{display:inline-block;min-width:4rem;font-weight:bold}} td,th{{text-align:left;padding:.2rem .6rem}}\
         </style></head><body><h1>{t} API reference</h1><p>{d}</p><p>Machine-readable: \
         <a href=\"/openapi.json\">/openapi.json</a></p>",
        t = esc(title),
        d = esc(doc["info"]["description"].as_str().unwrap_or(""))
    );
    let Some(paths) = doc["paths"].as_object() else { return out };
    for (path, item) in paths {
        let Some(ops) = item.as_object() else { continue };
        for (method, op) in ops {
            let _ = write!(
                out,
                "<h2><span class=m>{}</span> <code>{}</code></h2><p><b>{}</b></p><p>{}</p>",
                esc(&method.to_uppercase()),
                esc(path),
                esc(op["summary"].as_str().unwrap_or("")),
                esc(op["description"].as_str().unwrap_or("")).replace("\n\n", "</p><p>")
            );
            if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
                out.push_str("<table><tr><th>parameter</th><th>in</th><th>required</th><th>meaning</th></tr>");
                for p in params {
                    let _ = write!(
                        out,
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(p["name"].as_str().unwrap_or("")),
                        esc(p["in"].as_str().unwrap_or("")),
                        p["required"].as_bool().unwrap_or(false),
                        esc(p["description"].as_str().unwrap_or(""))
                    );
                }
                out.push_str("</table>");
            }
            if let Some(content) = op["requestBody"]["content"].as_object() {
                let types: Vec<String> = content.keys().map(|k| format!("<code>{}</code>", esc(k))).collect();
                let _ = write!(
                    out,
                    "<p>Body: {} {}</p>",
                    types.join(", "),
                    esc(op["requestBody"]["description"].as_str().unwrap_or(""))
                );
            }
            if let Some(responses) = op["responses"].as_object() {
                out.push_str("<ul>");
                for (status, r) in responses {
                    let _ = write!(
                        out,
                        "<li><code>{}</code> {}</li>",
                        esc(status),
                        esc(r["description"].as_str().unwrap_or(""))
                    );
                }
                out.push_str("</ul>");
            }
        }
    }
    out.push_str("</body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented() {
        let doc = &document().0;
        let paths = doc["paths"].as_object().unwrap();
        for (path, methods) in [
            ("/healthz", &["get"][..]),
            ("/readyz", &["get"]),
            ("/v1/tenants", &["get", "post"]),
            ("/v1/tenants/{id}", &["get"]),
            ("/v1/tenants/{id}/keys", &["post"]),
            ("/v1/tenants/{id}/quota", &["get", "put"]),
            ("/v1/plugins", &["get"]),
            ("/v1/plugins/{name}", &["get", "put", "delete"]),
            ("/v1/processes", &["get"]),
            ("/v1/processes/{name}", &["get", "put"]),
            ("/v1/processes/{name}/versions/{version}", &["get"]),
            ("/v1/processes/{name}/instances", &["post"]),
            ("/v1/instances", &["get"]),
            ("/v1/instances/{id}", &["get"]),
            ("/v1/instances/{id}/history", &["get"]),
            ("/v1/instances/{id}/signals/{signal}", &["post"]),
            ("/v1/instances/{id}/cancel", &["post"]),
            ("/v1/secrets", &["get"]),
            ("/v1/secrets/{name}", &["put", "delete"]),
        ] {
            for m in methods {
                assert!(paths.get(path).and_then(|p| p.get(*m)).is_some(), "{m} {path} is not in the OpenAPI document");
            }
        }
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        assert!(doc["components"]["schemas"]["InstanceView"].is_object());
    }

    #[test]
    fn the_reference_page_lists_every_operation() {
        let html = &document().1;
        assert!(html.contains("<code>/v1/processes/{name}/instances</code>"));
        assert!(html.contains("Idempotency-Key"));
        assert_eq!(html.matches("<h2>").count(), 25);
    }
}
