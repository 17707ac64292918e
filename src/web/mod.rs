//! What a browser sees: the dashboard at `/`, GraphiQL at `GET /graphql` (served by the
//! GraphQL handler to `Accept: text/html`), and the static files both load from
//! `/assets/`.
//!
//! Everything is compiled into the binary (`include_bytes!`): no build step for
//! `cargo run`, and no request leaves the server's origin, so both pages work on an
//! intranet or offline. The third-party libraries are pinned npm files vendored by
//! `scripts/vendor-web.sh` (see `assets/vendor/MANIFEST.json` for their versions,
//! licences and hashes); their URLs carry the version, so they are cached for a year.
//! The project's own files carry a hash of their content (`?v=`) for the same reason.

pub mod assets;
pub mod dashboard;
pub mod graphiql;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The routes of the browser pages and their assets, to merge into the API router.
/// `dashboard: false` (`serve --no-dashboard`) leaves `/` unrouted (404); GraphiQL and
/// the assets stay, since GraphiQL is part of the API's contract.
pub fn routes<S: Clone + Send + Sync + 'static>(dashboard: bool) -> Router<S> {
    let router = Router::new().route("/assets/{*path}", get(assets::serve));
    if dashboard {
        router.route("/", get(dashboard::page))
    } else {
        router
    }
}

/// The Content-Security-Policy of both pages: scripts, styles, fonts and requests only
/// from this origin (inline styles are allowed: React sets `style` attributes; fonts and
/// icons may be `data:` URIs, as GraphiQL's stylesheet embeds them). A browser refuses
/// anything else, so "no request leaves the origin" holds even for code we did not write.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// An HTML page with the headers both pages share: never cached (GraphiQL's default
/// query follows the clock), and the policy above.
pub fn html_page(body: String) -> Response {
    let mut resp = axum::response::Html(body).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

/// Escapes text for an HTML attribute or element body.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON for a `<script type="application/json">` block: `<` is escaped so no value can
/// close the element.
pub(crate) fn script_json(value: &serde_json::Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_its_element() {
        let s = script_json(&serde_json::json!({ "q": "</script><script>alert(1)</script>" }));
        assert!(!s.contains("</script"), "{s}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&s).unwrap()["q"], "</script><script>alert(1)</script>");
    }

    #[test]
    fn escape_html_escapes_markup() {
        assert_eq!(escape_html(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
