"""Login through an OAuth 2.0 identity provider (`[auth] kind = "generic-oauth"`, upstream's
GenericOAuthenticator) against a provider built on oauthlib (oauth_idp.py): PKCE, client
authentication, the state cookie, who may log in, managed groups and admin groups, across
replicas as behind one load-balanced hostname."""

import base64
import html
import json
import pathlib
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from tornado.web import create_signed_value

from rafthub_cluster import Cluster, free_port

HERE = pathlib.Path(__file__).parent
USERS = {
    "alice": {"groups": ["staff"]},
    "olga": {"groups": ["ops", "staff"]},
    "bob": {"groups": []},
    "zed": {"groups": ["visitors"]},
    "mallory": {"groups": ["staff"]},
    "Admin": {"groups": []},
    "pat": {"groups": []},
}


class Browser:
    """One browser in front of every replica, as if they shared one hostname (the cookies
    of any replica go to all of them)."""

    def __init__(self):
        self.jar = {}

    def get(self, url, headers=None, **kw):
        headers = dict(headers or {}, Cookie="; ".join(f"{k}={v}" for k, v in self.jar.items()))
        r = requests.get(url, headers=headers, allow_redirects=False, timeout=20, **kw)
        for line in r.raw.headers.getlist("Set-Cookie"):
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in line.lower():
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return r


def start_idp(tmp_path, ip):
    users = tmp_path / "idp-users.json"
    users.write_text(json.dumps(USERS))
    port = free_port(ip)
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "oauth_idp.py"), "--ip", ip, "--port", str(port), "--client-id",
         "rafthub-test", "--client-secret", "idp-secret-1", "--users", str(users)],
        stdout=open(tmp_path / "idp.log", "ab"), stderr=subprocess.STDOUT,
    )
    url = f"http://{ip}:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            requests.get(url + "/stats", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.1)
    return proc, url


@pytest.fixture
def idp(tmp_path):
    proc, url = start_idp(tmp_path, "127.0.0.1")
    yield url
    proc.kill()
    proc.wait()


def oauth_cluster(tmp_path, idp, auth="", oauth="", callback_replica=1):
    """Replicas log in through `idp`; the registered callback is replica `callback_replica`'s
    (None: guessed from the request's host)."""
    (tmp_path / "client-secret").write_text("idp-secret-1\n")
    c = Cluster(tmp_path)
    callback = "" if callback_replica is None else f"{c.replicas[callback_replica].public}/hub/oauth_callback"
    extra = f"""
[auth]
kind = "generic-oauth"
manage_groups = true
allowed_users = ["bob"]
blocked_users = ["mallory"]
{auth}
[auth.oauth]
client_id = "rafthub-test"
client_secret_file = "{tmp_path / 'client-secret'}"
authorize_url = "{idp}/authorize"
token_url = "{idp}/token"
userdata_url = "{idp}/userinfo"
oauth_callback_url = "{callback}"
scope = ["openid", "profile"]
login_service = "Test IdP"
allowed_groups = ["staff"]
admin_groups = ["ops"]
{oauth}
"""
    for r in c.replicas:
        r.config.write_text(r.config.read_text() + extra)
    c.start()
    return c


def provider_login(b, idp, cluster, user, next_url="/hub/token"):
    """The whole dance: start on replica 1, the provider, the callback (replica 2)."""
    b.get(f"{idp}/idp-login", params={"user": user})
    r1, r2 = cluster.replicas[0], cluster.replicas[1]
    start = b.get(f"{r1.public}/hub/oauth_login", params={"next": next_url})
    assert start.status_code == 302, start.text
    at_idp = b.get(start.headers["Location"])
    assert at_idp.status_code == 302, at_idp.text
    callback = at_idp.headers["Location"]
    assert callback.startswith(f"{r2.public}/hub/oauth_callback?"), callback
    return start, b.get(callback)


def whoami(b, replica):
    r = b.get(f"{replica.public}/hub/api/user", headers={"Sec-Fetch-Mode": "navigate"})
    return r.status_code, (r.json() if r.status_code == 200 else None)


def test_provider_login_works_across_replicas_with_pkce_and_managed_groups(tmp_path, idp):
    c = oauth_cluster(tmp_path, idp)
    try:
        b = Browser()
        page = b.get(f"{c.replicas[0].public}/hub/login?next=/hub/home")
        assert page.status_code == 200
        assert "Sign in with Test IdP" in page.text
        assert "/hub/oauth_login?next=%2Fhub%2Fhome" in html.unescape(page.text)

        start, done = provider_login(b, idp, c, "alice")
        q = parse_qs(urlparse(start.headers["Location"]).query)
        assert q["client_id"] == ["rafthub-test"] and q["response_type"] == ["code"]
        assert q["code_challenge_method"] == ["S256"] and len(q["code_challenge"][0]) == 43
        assert q["scope"] == ["openid profile"]
        assert done.status_code == 302, done.text
        assert done.headers["Location"] == "/hub/token"
        assert "oauthenticator-state" not in b.jar  # single use
        # Logged in on every replica; the provider's groups are the hub groups.
        for r in c.replicas:
            status, me = whoami(b, r)
            assert status == 200 and me["name"] == "alice", (r.id, status, me)
        user = requests.get(c.replicas[2].api + "/users/alice", headers=c.headers).json()
        assert user["groups"] == ["staff"] and user["admin"] is False
        # ops is an admin group; managed groups follow the provider at every login.
        _, done = provider_login(b, idp, c, "olga", next_url="/hub/admin")
        assert done.status_code == 302 and done.headers["Location"] == "/hub/admin"
        user = requests.get(c.replicas[0].api + "/users/olga", headers=c.headers).json()
        assert sorted(user["groups"]) == ["ops", "staff"] and user["admin"] is True
        # bob is an allowed user without groups; admin is an admin_users entry ("Admin"
        # normalizes to it).
        for name, admin in [("bob", False), ("Admin", True)]:
            bb = Browser()
            _, done = provider_login(bb, idp, c, name)
            assert done.status_code == 302, (name, done.text)
            assert whoami(bb, c.replicas[2])[1]["admin"] is admin
        stats = requests.get(idp + "/stats").json()
        assert stats["tokens_issued"] == 4 and stats["basic_auth"] == 0

        # Logout clears the hub's cookies and the state cookie.
        out = b.get(f"{c.replicas[2].public}/hub/logout")
        assert out.status_code == 302 and out.headers["Location"] == "/hub/login"
        assert whoami(b, c.replicas[0])[0] == 403
    finally:
        c.stop()


def test_who_may_not_log_in_and_broken_callbacks(tmp_path, idp):
    c = oauth_cluster(tmp_path, idp, oauth='custom_403_message = "Ask the hub team."')
    try:
        # Not in allowed_users nor an allowed group; blocked despite an allowed group.
        for name in ["zed", "mallory"]:
            b = Browser()
            _, done = provider_login(b, idp, c, name)
            assert done.status_code == 403, (name, done.status_code)
            assert "Ask the hub team." in done.text
            assert "jupyterhub-hub-login" not in b.jar
        names = [u["name"] for u in requests.get(c.replicas[0].api + "/users", headers=c.headers).json()]
        assert "zed" not in names and "mallory" not in names

        r2 = c.replicas[1].public + "/hub/oauth_callback"
        b = Browser()
        b.get(f"{idp}/idp-login", params={"user": "alice"})
        start = b.get(f"{c.replicas[0].public}/hub/oauth_login")
        callback = b.get(start.headers["Location"]).headers["Location"]
        code = parse_qs(urlparse(callback).query)["code"][0]
        cases = [
            ({"error": "access_denied", "error_description": "User said no"}, 400, "OAuth error: User said no"),
            ({"state": "x"}, 400, "OAuth callback made without a code"),
            ({"code": code, "state": "eyJzdGF0ZV9pZCI6ICJub3BlIn0="}, 400, "OAuth state mismatch"),
        ]
        for params, status, message in cases:
            r = b.get(r2, params=params)
            assert r.status_code == status and message in r.text, (params, r.status_code)
        # Each try consumed the state cookie: the genuine callback now lacks it.
        r = b.get(callback)
        assert r.status_code == 400 and "OAuth state missing from cookies" in r.text
        # A well-formed state cookie signed with another key counts as none.
        state = base64.urlsafe_b64encode(json.dumps({"state_id": "x"}).encode()).decode()
        forged = create_signed_value(b"not-the-hub-secret", "oauthenticator-state", state, version=2)
        b.jar["oauthenticator-state"] = forged.decode()
        r = b.get(callback)
        assert r.status_code == 400 and "OAuth state missing from cookies" in r.text
        # Password logins are not how this hub signs in.
        r = requests.post(c.replicas[0].public + "/hub/login", data={"username": "alice", "password": "x"})
        assert r.status_code == 403
    finally:
        c.stop()


def test_auto_login_basic_auth_and_logout_redirect(tmp_path, idp):
    c = oauth_cluster(
        tmp_path, idp, auth="auto_login = true",
        oauth=f'basic_auth = true\nlogout_redirect_url = "{idp}/logged-out"',
    )
    try:
        b = Browser()
        r = b.get(f"{c.replicas[0].public}/hub/login?next=/hub/home")
        assert r.status_code == 302 and r.headers["Location"] == "/hub/oauth_login?next=%2Fhub%2Fhome"
        _, done = provider_login(b, idp, c, "alice", next_url="/hub/home")
        assert done.status_code == 302 and done.headers["Location"] == "/hub/home"
        assert requests.get(idp + "/stats").json()["basic_auth"] == 1
        out = b.get(f"{c.replicas[0].public}/hub/logout")
        assert out.status_code == 302 and out.headers["Location"] == f"{idp}/logged-out"
        assert whoami(b, c.replicas[1])[0] == 403
    finally:
        c.stop()


def test_config_names_are_normalized_and_blocking_a_user_revokes_a_login(tmp_path, idp):
    c = oauth_cluster(tmp_path, idp)
    try:
        # admin_users as written by an operator ("PAT") is the "pat" who logs in.
        for r in c.replicas:
            r.kill()
            r.config.write_text(r.config.read_text().replace('admin_users = ["admin"]', 'admin_users = ["PAT"]'))
        for r in c.replicas:
            r.start()
        for r in c.replicas:
            c.wait_ready(r)
        pat = Browser()
        _, done = provider_login(pat, idp, c, "pat")
        assert done.status_code == 302, done.text
        assert whoami(pat, c.replicas[0])[1]["admin"] is True

        alice = Browser()
        _, done = provider_login(alice, idp, c, "alice")
        assert done.status_code == 302
        token = requests.post(c.replicas[0].api + "/users/alice/tokens", headers=c.headers, json={}).json()["token"]
        assert requests.get(c.replicas[1].api + "/user", headers={"Authorization": f"token {token}"}).status_code == 200
        # Now blocked (rolling restart with the new config): her cookie and token are refused
        # everywhere, the leader takes her groups, and she cannot log in again.
        for r in c.replicas:
            r.kill()
            r.config.write_text(r.config.read_text().replace('blocked_users = ["mallory"]', 'blocked_users = ["Mallory", "ALICE"]'))
            r.start()
            c.wait_ready(r)
        for r in c.replicas:
            assert whoami(alice, r)[0] == 403, r.id
            assert requests.get(r.api + "/user", headers={"Authorization": f"token {token}"}).status_code == 403
        deadline = time.time() + 20
        while requests.get(c.replicas[2].api + "/users/alice", headers=c.headers).json()["groups"]:
            assert time.time() < deadline, "the blocked user kept her groups"
            time.sleep(0.2)
        _, done = provider_login(Browser(), idp, c, "alice")
        assert done.status_code == 403
        assert whoami(pat, c.replicas[1])[0] == 200
    finally:
        c.stop()


def test_chromium_logs_in_through_a_provider_on_another_site(tmp_path):
    """A real browser: the provider is another site (127.0.0.9), so the way back to the hub
    is a cross-site navigation that must still carry the hub's state cookie."""
    playwright = pytest.importorskip("playwright.sync_api")
    import shutil

    proc, idp_url = start_idp(tmp_path, "127.0.0.9")
    c = oauth_cluster(tmp_path, idp_url, auth="auto_login = true", callback_replica=None)
    try:
        base = c.replicas[0].public
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"]
        with playwright.sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                headless=True, args=args,
            )
            page = ctx.new_page()
            page.goto(f"{idp_url}/idp-login?user=olga")
            # auto_login: the hub's page goes straight to the provider and back.
            page.goto(f"{base}/hub/home")
            page.wait_for_url(f"{base}/hub/home", timeout=20000)
            assert "olga" in page.content()
            page.goto(f"{base}/hub/api/user")
            assert '"name": "olga"' in page.content() or '"name":"olga"' in page.content()
            page.goto(f"{base}/hub/logout")
            assert "Successfully logged out" in page.content()
            ctx.close()
    finally:
        c.stop()
        proc.kill()
        proc.wait()
