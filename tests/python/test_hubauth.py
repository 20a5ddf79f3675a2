"""A service built on upstream `jupyterhub.services.auth.HubAuth` authenticates user tokens
against each replica of the cluster."""

import requests
from jupyterhub.services.auth import HubAuth


def test_hubauth_identifies_users_through_every_replica(cluster):
    h = cluster.headers
    r0 = cluster.replicas[0]
    assert requests.post(r0.api + "/users/alice", headers=h).status_code == 201
    tok = requests.post(r0.api + "/users/alice/tokens", headers=h, json={"note": "svc"}).json()["token"]
    for r in cluster.replicas:
        auth = HubAuth(api_url=r.api, api_token=cluster.headers["Authorization"].split()[1], cache_max_age=0)
        model = auth.user_for_token(tok, use_cache=False)
        assert model["name"] == "alice", model
        assert "read:users:name!user=alice" in model["scopes"]
        assert auth.user_for_token("not-a-token-at-all", use_cache=False) is None
    # Revoked on one replica, refused by HubAuth on every replica.
    tid = requests.get(r0.api + "/users/alice/tokens", headers=h).json()["api_tokens"][0]["id"]
    assert requests.delete(r0.api + f"/users/alice/tokens/{tid}", headers=h).status_code == 204
    for r in cluster.replicas:
        auth = HubAuth(api_url=r.api, api_token=cluster.headers["Authorization"].split()[1], cache_max_age=0)
        assert auth.user_for_token(tok, use_cache=False) is None
