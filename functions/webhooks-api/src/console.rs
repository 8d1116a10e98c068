//! The web console: plain HTML, CSS and JavaScript compiled into this function and served at
//! `/console`. No build step, no CDN: the page loads only these files and talks to this same
//! API (same origin, so no CORS), with the API key the user pastes kept in the browser session.

use lambda_http::http::{HeaderMap, Method};
use lambda_http::{Body, Response};

use hookline::api::ApiError;

struct Asset {
    /// The path after `/console/`; the page itself is the empty name.
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
    etag: u64,
}

macro_rules! asset {
    ($name:literal, $file:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_str!(concat!("../console/", $file)),
            etag: fnv1a(include_bytes!(concat!("../console/", $file))),
        }
    };
}

const ASSETS: &[Asset] = &[
    // The page; its links name the other files as `console/<name>`.
    asset!("", "index.html", "text/html; charset=utf-8"),
    asset!("style.css", "style.css", "text/css; charset=utf-8"),
    asset!("app.js", "app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "api.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "dom.js", "text/javascript; charset=utf-8"),
    asset!(
        "webhooks.js",
        "webhooks.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("form.js", "form.js", "text/javascript; charset=utf-8"),
    asset!("logs.js", "logs.js", "text/javascript; charset=utf-8"),
];

/// A content hash for the ETag, computed at compile time (FNV-1a: not for security, only to
/// tell versions of a file apart).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// Only our own files may run or load, nothing may frame the page, and nothing leaves but
/// calls to this API: an injected string cannot load a script or send the key elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Where a path points inside the console.
#[derive(Debug, PartialEq, Eq)]
pub enum ConsolePath<'a> {
    /// `/console`: the page. Its links name `console/<file>`, so they resolve behind any stage
    /// or URL prefix, and no route has to match a trailing slash.
    Page,
    /// `/console/<name>`; an empty name (`/console/`) is sent back to the page.
    File(&'a str),
}

/// The console part of a path, if it is one; a stage prefix (`/prod/console`) and the local
/// Lambda URL prefix are tolerated, as for the API.
pub fn console_path(path: &str) -> Option<ConsolePath<'_>> {
    if path.contains("/api/v1/") {
        return None;
    }
    if path.ends_with("/console") {
        return Some(ConsolePath::Page);
    }
    let i = path.find("/console/")?;
    Some(ConsolePath::File(&path[i + "/console/".len()..]))
}

/// The response for a console path. The files are public: the API key lives in the browser.
pub fn serve(
    path: ConsolePath<'_>,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::MethodNotAllowed(
            method.to_string(),
            "GET, HEAD".into(),
        ));
    }
    let name = match path {
        ConsolePath::Page => "",
        ConsolePath::File("") => {
            // Relative, so it works behind any stage or URL prefix.
            return Ok(Response::builder()
                .status(308)
                .header("location", "../console")
                .body(Body::Empty)
                .expect("static headers are valid"));
        }
        ConsolePath::File(name) => name,
    };
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ApiError::NotFound("no such file in the console".into()))?;
    let etag = format!("\"{:016x}\"", asset.etag);
    let fresh = headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let builder = Response::builder()
        .header("etag", &etag)
        // Revalidated on every load (a 304 costs no body), so a deploy shows at once.
        .header("cache-control", "no-cache")
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("x-frame-options", "DENY");
    let response = if fresh {
        builder.status(304).body(Body::Empty)
    } else {
        let body = if method == Method::HEAD {
            Body::Empty
        } else {
            Body::Text(asset.body.to_string())
        };
        builder
            .status(200)
            .header("content-type", asset.content_type)
            .body(body)
    };
    Ok(response.expect("static headers are valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_and_outside_the_console() {
        assert_eq!(console_path("/console"), Some(ConsolePath::Page));
        assert_eq!(console_path("/prod/console"), Some(ConsolePath::Page));
        assert_eq!(console_path("/console/"), Some(ConsolePath::File("")));
        assert_eq!(
            console_path("/prod/console/app.js"),
            Some(ConsolePath::File("app.js"))
        );
        assert_eq!(console_path("/api/v1/webhook"), None);
        assert_eq!(console_path("/api/v1/webhook/console"), None);
        assert_eq!(console_path("/api/v1/webhook/console/x"), None);
        assert_eq!(console_path("/consoles"), None);
        // A stage may be called anything, "api" included.
        assert_eq!(console_path("/api/console"), Some(ConsolePath::Page));
    }

    #[test]
    fn every_file_is_served_with_its_type_and_a_validator() {
        for asset in ASSETS {
            let path = || match asset.name {
                "" => ConsolePath::Page,
                name => ConsolePath::File(name),
            };
            let r = serve(path(), &Method::GET, &HeaderMap::new()).unwrap();
            assert_eq!(r.status(), 200, "{}", asset.name);
            assert_eq!(r.headers()["content-type"], asset.content_type);
            let etag = r.headers()["etag"].clone();
            let mut again = HeaderMap::new();
            again.insert("if-none-match", etag);
            let r = serve(path(), &Method::GET, &again).unwrap();
            assert_eq!(r.status(), 304, "{}", asset.name);
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        // Every script and style sheet the page names is one of ours, by a relative path.
        let page = ASSETS[0].body;
        for attr in ["src=\"", "href=\""] {
            for part in page.split(attr).skip(1) {
                let target = &part[..part.find('"').unwrap()];
                let ours = target
                    .strip_prefix("console/")
                    .is_some_and(|name| ASSETS.iter().any(|a| a.name == name));
                // Fragments are in-page links and routes; `data:,` is the empty icon (no
                // favicon request).
                assert!(
                    ours || target.starts_with('#') || target == "data:,",
                    "index.html refers to {target}"
                );
            }
        }
        assert!(
            !page.contains("<script>"),
            "inline scripts are refused by the CSP"
        );
    }

    #[test]
    fn writes_are_refused_and_unknown_files_are_404() {
        let e = serve(ConsolePath::Page, &Method::POST, &HeaderMap::new()).unwrap_err();
        assert_eq!(e.status(), 405);
        let e = serve(ConsolePath::File("x.js"), &Method::GET, &HeaderMap::new()).unwrap_err();
        assert_eq!(e.status(), 404);
        let r = serve(ConsolePath::File(""), &Method::GET, &HeaderMap::new()).unwrap();
        assert_eq!(r.status(), 308);
        assert_eq!(r.headers()["location"], "../console");
        let r = serve(ConsolePath::Page, &Method::HEAD, &HeaderMap::new()).unwrap();
        assert_eq!(r.status(), 200);
    }
}
