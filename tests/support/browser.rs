//! A cookie-keeping HTTP client for the hub's pages (login, XSRF-checked forms).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};

/// A cookie-keeping client that does not follow redirects.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub cookies: BTreeMap<String, String>,
}

pub struct Reply {
    pub status: StatusCode,
    pub location: String,
    pub body: String,
}

impl Browser {
    /// A browser without cookies for the hub at `http://{addr}`.
    pub fn new(addr: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: format!("http://{addr}"),
            cookies: BTreeMap::new(),
        }
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Reply {
        self.send_with(method, path, form, &[]).await
    }

    /// [`Browser::send`] with extra request headers (`X-XSRFToken`, `Sec-Fetch-*`).
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let jar: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !jar.is_empty() {
            rb = rb.header("Cookie", jar.join("; "));
        }
        if let Some(f) = form {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(f)
                .finish();
            rb = rb
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let r = rb.send().await.expect("request");
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.insert(k.to_string(), v.to_string());
        }
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        Reply {
            status: r.status(),
            location,
            body: r.text().await.unwrap_or_default(),
        }
    }

    pub fn xsrf(&self) -> String {
        self.cookies.get("_xsrf").cloned().expect("an _xsrf cookie")
    }

    /// The dummy authenticator's login form.
    pub async fn login(&mut self, name: &str) {
        let r = self.send(Method::GET, "/hub/login", None).await;
        assert_eq!(r.status, StatusCode::OK);
        let xsrf = self.xsrf();
        let form = [
            ("_xsrf", xsrf.as_str()),
            ("username", name),
            ("password", ""),
        ];
        let r = self.send(Method::POST, "/hub/login", Some(&form)).await;
        assert_eq!(r.status, StatusCode::FOUND, "login: {}", r.body);
        assert!(self.cookies.contains_key("jupyterhub-hub-login"));
    }
}
