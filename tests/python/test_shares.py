"""Sharing with the real jupyterhub-singleuser: alice's running server, shared with bob
directly and with carol through a group, is reached by both through another replica's proxy
(the OAuth token the server checks carries the shared `access:servers`), after confirming
the authorization as upstream asks a non-owner to; dave, with nothing
shared, is refused; revoking the group share ends carol's access at her next login."""

import re

import requests

from browser import login
from test_singleuser import wait_ready


def status_through_oauth(base, user):
    """`/user/alice/api/status` for `user`, after the OAuth dance with alice's server: not
    its owner, the user is asked to authorize first (upstream's `needs_oauth_confirm`)."""
    s = login(base, user)
    r = s.get(f"{base}/user/alice/lab", timeout=60)
    asked = r.status_code == 200 and 'id="authorize"' in r.text
    if asked:
        assert "/hub/api/oauth2/authorize" in r.url, r.url
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', r.text).group(1)
        # Without the XSRF token the confirmation is refused.
        assert s.post(r.url, data={}, timeout=10).status_code == 403
        r = s.post(r.url, data={"_xsrf": xsrf}, timeout=60)
    return r, s.get(f"{base}/user/alice/api/status", timeout=10), asked


def test_shared_server_is_reachable_by_its_recipients(spawn_cluster):
    c = spawn_cluster
    api, h = c.replicas[0].api, c.headers
    r = requests.post(f"{api}/users", json={"usernames": ["bob", "carol", "dave"]}, headers=h, timeout=10)
    assert r.status_code == 201, r.text
    r = requests.post(f"{api}/groups/team", json={"users": ["carol"]}, headers=h, timeout=10)
    assert r.status_code == 201, r.text

    base = c.replicas[1].public
    alice = login(base, "alice")
    r = alice.get(f"{base}/hub/spawn", allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text[:300]
    assert wait_ready(alice, base, "alice") == "/user/alice/"

    for body in ({"user": "bob"}, {"group": "team"}):
        r = requests.post(f"{api}/shares/alice/", json=body, headers=h, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["server"]["ready"] is True

    other = c.replicas[2].public
    # The owner is not asked to confirm access to its own server.
    r = alice.get(f"{base}/user/alice/lab", timeout=60)
    assert r.status_code == 200 and "JupyterLab" in r.text, r.text[:300]
    for user in ("bob", "carol"):
        page, status, asked = status_through_oauth(other, user)
        assert asked, f"{user} was not asked to authorize"
        assert page.status_code == 200 and "JupyterLab" in page.text, (user, page.status_code, page.text[:300])
        assert status.status_code == 200 and "connections" in status.json(), (user, status.text[:300])

    page, status, _ = status_through_oauth(other, "dave")
    assert page.status_code == 403, (page.status_code, page.text[:300])
    assert status.status_code == 403

    # Revoked: carol's next OAuth login to the server is refused.
    r = requests.patch(f"{api}/shares/alice/", json={"group": "team"}, headers=h, timeout=10)
    assert r.status_code == 200 and r.json() == {}, r.text
    page, _, _ = status_through_oauth(c.replicas[0].public, "carol")
    assert page.status_code == 403, (page.status_code, page.text[:300])
