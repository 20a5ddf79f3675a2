"""A requests-based browser: logs in through the hub's form and follows redirects with a
cookie jar, as a person's browser would."""

import re

import requests


def login(base, username, password="x"):
    s = requests.Session()
    page = s.get(f"{base}/hub/login", timeout=10)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    r = s.post(
        f"{base}/hub/login?next=/hub/home",
        data={"username": username, "password": password, "_xsrf": xsrf},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 302, (r.status_code, r.text[:300])
    return s
