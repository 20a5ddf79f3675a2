//! Server-rendered pages (contract §7) and the helpers every page shares: the session cookie,
//! the XSRF token, rendering, safe redirects.

use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::{context, Value as Ctx};
use rafthub_rbac::{Builtin, Resource};

use super::cookies::{self, SESSION_COOKIE, XSRF_COOKIE};
use super::session::CookieUser;
use super::templates;
use crate::api::names::quote_name;
use crate::hub::Hub;
use crate::secrets;

/// Per-request page state: the browser session (created on first visit) and its user.
#[derive(Clone)]
pub struct Page {
    pub session_id: String,
    new_session: bool,
    pub user: Option<CookieUser>,
    /// Who the XSRF token is bound to: the login cookie's id, empty before login.
    login_id: String,
    /// Its cookies get `Secure` ([`cookies::secure`]).
    secure: bool,
}

impl Page {
    pub fn new(hub: &Hub, headers: &HeaderMap, user: Option<CookieUser>) -> Page {
        let user = user.or_else(|| hub.cookie_user(headers));
        let secure = cookies::secure(hub.cfg.public_url.as_deref(), headers);
        let login_id = user
            .as_ref()
            .map(|u| u.login_id.clone())
            .unwrap_or_default();
        match cookies::get(headers, SESSION_COOKIE).filter(|s| !s.is_empty() && s.len() <= 64) {
            Some(s) => Page {
                session_id: s.to_string(),
                new_session: false,
                user,
                login_id,
                secure,
            },
            None => Page {
                session_id: secrets::new_token(),
                new_session: true,
                user,
                login_id,
                secure,
            },
        }
    }

    pub fn secure(&self) -> bool {
        self.secure
    }

    pub fn xsrf(&self, hub: &Hub) -> String {
        hub.cookie_secret()
            .map(|k| cookies::xsrf_token(&k, &self.session_id, &self.login_id))
            .unwrap_or_default()
    }

    pub fn xsrf_matches(&self, hub: &Hub, presented: &str) -> bool {
        !self.new_session
            && hub
                .cookie_secret()
                .is_some_and(|k| cookies::xsrf_ok(&k, &self.session_id, &self.login_id, presented))
    }

    /// The page state right after a login with login cookie id `login_id`: a new browser
    /// session (upstream sets the session id at login), so a session id (and XSRF token)
    /// planted before the login is worth nothing after it.
    pub fn after_login(&self, login_id: &str) -> Page {
        Page {
            session_id: secrets::new_token(),
            new_session: true,
            user: None,
            login_id: login_id.to_string(),
            secure: self.secure,
        }
    }

    /// Sets the session id and XSRF cookies when this request started the session.
    pub fn set_session_cookies(&self, hub: &Hub, h: &mut axum::http::HeaderMap) {
        if self.new_session {
            h.append(
                header::SET_COOKIE,
                cookies::set(
                    SESSION_COOKIE,
                    &self.session_id,
                    &hub.cfg.base_url,
                    // No script needs it (upstream sets every hub cookie HttpOnly but `_xsrf`).
                    true,
                    self.secure,
                    None,
                ),
            );
        }
        h.append(
            header::SET_COOKIE,
            cookies::set(
                XSRF_COOKIE,
                &self.xsrf(hub),
                &hub.hub_prefix(),
                false,
                self.secure,
                None,
            ),
        );
    }
}

/// Renders a template with the base context: upstream's names (`base_url` is the hub's
/// prefix, `prefix` the whole hub's, `user` has `name` and `admin`, `login_url`,
/// `logout_url`, `static_url()`), then `[hub] template_vars`, which the page's own context
/// overrides, as upstream's `render_template`. `announcement_<page>` (login, home, spawn,
/// logout) takes the place of `announcement` on its page.
pub fn render(hub: &Hub, page: Page, template: &str, status: StatusCode, ctx: Ctx) -> Response {
    let hub_prefix = hub.hub_prefix();
    let page_name = template.trim_end_matches(".html");
    let announcement =
        templates::announcement(&hub.cfg.template_vars, page_name).map(Ctx::from_serialize);
    let xsrf = page.xsrf(hub);
    let base = context! {
        hub_prefix => hub_prefix.clone(),
        base_url => hub_prefix.clone(),
        prefix => hub.cfg.base_url.clone(),
        login_url => format!("{hub_prefix}login"),
        logout_url => format!("{hub_prefix}logout"),
        xsrf_token => xsrf.clone(),
        xsrf => xsrf,
        user => page.user.as_ref().map(|u| context! { name => u.name.clone(), admin => u.admin }),
        admin => page.user.as_ref().is_some_and(|u| u.admin),
        title => page_name.replace('_', " "),
        announcement => announcement,
    };
    let vars = Ctx::from_serialize(&hub.cfg.template_vars);
    let html = hub
        .templates
        .get(template)
        .and_then(|t| t.render(context! { ..ctx, ..base, ..vars }));
    let mut res = match html {
        Ok(h) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            h,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("template error: {e}"),
        )
            .into_response(),
    };
    page.set_session_cookies(hub, res.headers_mut());
    res
}

/// An HTML error page (also the proxy's error target).
pub fn error_page(hub: &Hub, status: StatusCode, message: &str, _user: Option<&str>) -> Response {
    let page = Page {
        session_id: String::new(),
        new_session: false,
        user: None,
        login_id: String::new(),
        secure: false,
    };
    let mut res = render(
        hub,
        page,
        "error.html",
        status,
        context! { status => status.as_u16(), reason => status.canonical_reason().unwrap_or(""), message => message },
    );
    // No session here: keep the browser's XSRF cookie (a token for no session would replace it).
    res.headers_mut().remove(header::SET_COOKIE);
    res
}

/// The first value of `key` in a raw query string.
pub fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    })
}

/// `next` if it is a local path (never an open redirect). Browsers read `\\` as `/` and drop
/// tabs and newlines from a URL (`/\t/evil.example` is `//evil.example`), so neither may
/// appear (upstream's `urlparse` strips them before it looks for a host).
pub fn valid_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.contains('\\')
            && !n.bytes().any(|b| b.is_ascii_control())
    })
}

/// Where `user` goes without a valid `next` (upstream's `get_next_url`): with
/// `redirect_to_server`, the default server when it is active, else `{hub}spawn`, which
/// starts it; without, the home page.
pub fn default_next(hub: &Hub, user: &str) -> String {
    if !hub.cfg.redirect_to_server {
        return format!("{}home", hub.hub_prefix());
    }
    let active = hub
        .node
        .state()
        .user(user)
        .and_then(|u| u.servers.get(""))
        .is_some_and(|s| s.active());
    if active {
        hub.user_url(user)
    } else {
        format!("{}spawn", hub.hub_prefix())
    }
}

/// `next` if valid, else [`default_next`].
pub fn next_or_default(hub: &Hub, next: Option<&str>, user: &str) -> String {
    valid_next(next).map_or_else(|| default_next(hub, user), str::to_string)
}

/// The path and query a request was sent to: what the login comes back to (`next`), as
/// upstream's `web.authenticated` uses `request.uri`.
pub(super) fn request_target(uri: &axum::http::Uri) -> &str {
    uri.path_and_query().map_or(uri.path(), |p| p.as_str())
}

pub(super) fn login_redirect(hub: &Hub, next: &str) -> Response {
    let n: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    found(&format!("{}login?next={n}", hub.hub_prefix())).into_response()
}

pub async fn static_file(Path(file): Path<String>) -> Response {
    let (body, ty) = match file.as_str() {
        "style.css" => (templates::STYLE_CSS, "text/css; charset=utf-8"),
        "app.js" => (templates::APP_JS, "application/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ty),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// `{hub}logo`, which single-user pages link to (upstream's `LogoHandler`): the configured
/// `logo_file`, or rafthub's own; 404 when the configured file cannot be read.
pub async fn logo(State(hub): State<Hub>) -> Response {
    let Some(path) = hub.cfg.logo_file.clone() else {
        return (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            templates::LOGO_SVG,
        )
            .into_response();
    };
    let ty = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, ty),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "logo_file cannot be read");
            error_page(&hub, StatusCode::NOT_FOUND, "", None)
        }
    }
}

/// `{base}` → `{hub}`; `{hub}` → where a login would go ([`default_next`]), or the login.
pub async fn root(
    State(hub): State<Hub>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let Some(u) = hub.cookie_user(&headers) else {
        return login_redirect(&hub, request_target(&uri));
    };
    found(&default_next(&hub, &u.name)).into_response()
}

pub async fn base_root(State(hub): State<Hub>) -> Response {
    found(&hub.hub_prefix()).into_response()
}

pub async fn home(
    State(hub): State<Hub>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let Some(u) = hub.cookie_user(&headers) else {
        return login_redirect(&hub, request_target(&uri));
    };
    let (default, named) = {
        let st = hub.node.state();
        let Some(user) = st.user(&u.name) else {
            return login_redirect(&hub, &hub.hub_prefix());
        };
        let d = user.servers.get("");
        let default = context! {
            active => d.is_some_and(|s| s.active()),
            pending => d.and_then(|s| s.pending()),
            url => hub.user_url(&u.name),
        };
        let named: Vec<Ctx> = user
            .servers
            .values()
            .filter(|s| !s.name.is_empty())
            .map(|s| {
                context! {
                    name => s.name.clone(), display_name => s.display_name.clone(), ready => s.ready(),
                    pending => s.pending(), url => hub.server_prefix(&u.name, &s.name),
                    last_activity => s.last_activity.map(crate::timefmt::iso),
                }
            })
            .collect();
        (default, named)
    };
    let name = u.name.clone();
    let page = Page::new(&hub, &headers, Some(u));
    render(
        &hub,
        page,
        "home.html",
        StatusCode::OK,
        context! { default => default, named => named, allow_named => hub.cfg.allow_named_servers, user_quoted => quote_name(&name) },
    )
}

pub async fn token_page(
    State(hub): State<Hub>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let Some(u) = hub.cookie_user(&headers) else {
        return login_redirect(&hub, request_target(&uri));
    };
    let page = Page::new(&hub, &headers, Some(u));
    render(&hub, page, "token.html", StatusCode::OK, context! {})
}

pub async fn admin_page(
    State(hub): State<Hub>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let Some(caller) = hub.cookie_caller(&headers) else {
        return login_redirect(&hub, request_target(&uri));
    };
    let allowed = {
        let st = hub.node.state();
        crate::api::auth::holds(&caller, &st, Builtin::AdminUi, Resource::Global)
    };
    if !allowed {
        return error_page(
            &hub,
            StatusCode::FORBIDDEN,
            "The admin page needs the admin-ui scope.",
            None,
        );
    }
    let page = Page::new(&hub, &headers, None);
    render(&hub, page, "admin.html", StatusCode::OK, context! {})
}

/// `{hub}error/<code>`: the proxy's error target.
pub async fn error_code(
    State(hub): State<Hub>,
    Path(code): Path<u16>,
    RawQuery(rq): RawQuery,
) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
    let url = rq
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "url")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    let msg = match code {
        404 => format!("No route for {url}"),
        // Upstream's words (its `ProxyErrorHandler`); the page links the hub's home.
        503 if url.is_empty() => {
            "Your server appears to be down. Try restarting it from the hub.".into()
        }
        503 => format!("The server at {url} appears to be down. Try restarting it from the hub."),
        _ => format!("Error while proxying {url}"),
    };
    // 200, as upstream's `ProxyErrorHandler`: the proxy answers with the original status
    // (CHP sets it; proxies that check the error page's own status would otherwise fall
    // back to their plain default page).
    let mut res = error_page(&hub, status, &msg, None);
    *res.status_mut() = StatusCode::OK;
    res
}

/// A 302 Found redirect, as upstream's handlers answer (axum's `Redirect::to` is a 303).
pub fn found(to: &str) -> Redirect302 {
    Redirect302(to.to_string())
}

/// See [`found`].
pub struct Redirect302(String);

impl IntoResponse for Redirect302 {
    fn into_response(self) -> Response {
        with_location(StatusCode::FOUND.into_response(), &self.0)
    }
}

/// Sets `Location` on a response (used by redirects that must keep a custom status).
pub fn with_location(mut res: Response, to: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// `POST {hub}security/csp-report`: a browser reports a content security policy violation
/// (the `report-uri` of every response); logged for logged-in users, as upstream.
pub async fn csp_report(
    State(hub): State<Hub>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if hub.cookie_user(&headers).is_none() {
        return StatusCode::FORBIDDEN.into_response();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(2048)]);
    tracing::warn!(report = %text, "content security violation");
    StatusCode::OK.into_response()
}
