"""A client walks `GET /users` pages behind a round-robin balancer, following
`_pagination.next.url` verbatim: every page may come from a different replica."""

import requests

from lb import RoundRobin

PAGINATED = {"Accept": "application/jupyterhub-pagination+json"}


def walk(url, headers):
    names, pages = [], 0
    while url:
        # A new connection per page, so the balancer moves on to the next replica.
        with requests.Session() as s:
            resp = s.get(url, headers={**headers, **PAGINATED}, timeout=10)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        names += [u["name"] for u in body["items"]]
        pages += 1
        nxt = body["_pagination"]["next"]
        url = nxt["url"] if nxt else None
    return names, pages


def test_next_url_followed_verbatim_across_replicas(cluster):
    h = cluster.headers
    r0 = cluster.replicas[0]
    names = [f"u{i:03d}" for i in range(120)]
    assert requests.post(r0.api + "/users", headers=h, json={"usernames": names}).status_code == 201
    # Everything acknowledged is visible to a linearizable walk started anywhere.
    lb = RoundRobin([(r.ip, r.api_port) for r in cluster.replicas])
    try:
        got, pages = walk(
            f"http://127.0.0.1:{lb.port}/hub/api/users?limit=25&consistency=linearizable&sort=name", h
        )
        assert pages == 5
        assert got == sorted(names + ["admin"])
        assert len(lb.hits) == 3, f"pages came from {lb.hits}"
        # Without the Accept header: a bare list truncated at the max limit.
        bare = requests.get(f"http://127.0.0.1:{lb.port}/hub/api/users?limit=7", headers=h).json()
        assert isinstance(bare, list) and len(bare) == 7
    finally:
        lb.close()
