"""Fuzzes the hub API against its own OpenAPI document with schemathesis.

The document is the one replica 1 serves at /hub/api/openapi.json, generated from the
handlers' annotations. schemathesis generates requests from it (valid and invalid) and checks
every answer: no 5xx, a status the document lists, and a body matching that status's schema.
Any finding is a bug in a handler or in the document: fix that, never loosen the check.

Random names rarely hit anything that exists, so a user (with a token), a group and a service
are created first and offered to the generator through schemathesis dictionaries: about half
of the generated path names are those, the rest stay random.

Bounded: a fixed number of examples per operation and a hard timeout per run. The seed is
fixed so that CI is reproducible; set RAFTHUB_SCHEMATHESIS_SEED to explore others.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from conftest import fake_spawner_extra
from rafthub_cluster import TOKEN, Cluster

# The three the document exists for, then what else must hold of it: content types and
# documented headers, authentication really enforced, deleted things gone, and 405 with an
# `Allow` header for methods a path does not have. Not `missing_required_header`: it wants
# 401, and the hub API answers 403 (contract §0); tests/api_openapi.rs checks that instead.
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "response_schema_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "ignored_auth",
        "use_after_free",
        "unsupported_method",
        "allow_header_conformance",
    ]
)
MAX_EXAMPLES = int(os.environ.get("RAFTHUB_SCHEMATHESIS_EXAMPLES", "30"))
SEED = os.environ.get("RAFTHUB_SCHEMATHESIS_SEED", "20240501")
TIMEOUT_S = 120
PAGINATION = "application/jupyterhub-pagination+json"

# The checks are chosen here rather than with `--checks`: a check named on the command line
# would override the per-operation exception below.
CHECKS_CONFIG = "[checks]\nenabled = false\n" + "".join(
    f"[checks.{c}]\nenabled = true\n" for c in CHECKS.split(",")
)

CONFIG = """\
[dictionaries.users]
values = ["fuzz-user", "fuzz-user-2"]
[dictionaries.groups]
values = ["fuzz-group"]
[dictionaries.services]
values = ["fuzz-service", "ops"]
[dictionaries.tokens]
values = ["{token_id}"]
[dictionaries.servers]
values = ["gpu", ""]

[[operations]]
include-path-regex = "/users/\\\\{{name\\\\}}"
parameters = {{ "path.name" = {{ dictionary = "users", probability = 0.5 }}, \
"path.token_id" = {{ dictionary = "tokens", probability = 0.5 }}, \
"path.server_name" = {{ dictionary = "servers", probability = 0.5 }}, \
"path.owner" = {{ dictionary = "users", probability = 0.5 }}, \
"path.server" = {{ dictionary = "servers", probability = 0.5 }} }}

# Sharing: owners, servers and recipients that exist. A DELETE of a server's shares or codes
# keeps the server, whose GET (a list) then answers 200, as upstream; the recipient-side GET
# of one share is 404 after its DELETE and keeps the check.
[[operations]]
include-path-regex = "/share(s|-codes)/"
parameters = {{ "path.owner" = {{ dictionary = "users", probability = 0.5 }}, \
"path.server" = {{ dictionary = "servers", probability = 0.5 }}, \
"body.user" = {{ dictionary = "users", probability = 0.5 }}, \
"body.group" = {{ dictionary = "groups", probability = 0.5 }} }}
checks.use_after_free.enabled = false

[[operations]]
include-path-regex = "/groups/\\\\{{name\\\\}}"
parameters = {{ "path.name" = {{ dictionary = "groups", probability = 0.5 }}, \
"body.users[*]" = {{ dictionary = "users", probability = 0.5 }}, \
"path.owner" = {{ dictionary = "users", probability = 0.5 }}, \
"path.server" = {{ dictionary = "servers", probability = 0.5 }} }}

[[operations]]
include-path-regex = "/groups$"
parameters = {{ "body.users[*]" = {{ dictionary = "users", probability = 0.5 }} }}

[[operations]]
include-path-regex = "/services/\\\\{{name\\\\}}"
parameters = {{ "path.name" = {{ dictionary = "services", probability = 0.5 }} }}

# A server's DELETE stops it and keeps it (only `{{"remove": true}}` deletes a named one), and
# GET answers a stopped server with 200 (its progress stream too, with a "failed" event), as
# upstream 6.x does; `use_after_free` takes every 2xx DELETE for a deletion. tests/python/test_named_servers.py pins the real contract: stop
# keeps, remove deletes, GET after remove is 404.
[[operations]]
include-path-regex = "/users/\\\\{{name\\\\}}/servers?(/\\\\{{server_name\\\\}})?(/progress)?$"
include-method = "GET"
checks.use_after_free.enabled = false
"""


def make_fixtures(api, headers):
    """What the dictionaries name; returns the id of fuzz-user's token."""

    def post(path, body):
        r = requests.post(api + path, json=body, headers=headers, timeout=10)
        assert r.status_code == 201, (path, r.status_code, r.text)
        return r.json()

    post("/users", {"usernames": ["fuzz-user", "fuzz-user-2"]})
    post("/groups/fuzz-group", {"users": ["fuzz-user"]})
    post("/services/fuzz-service", {"url": "http://127.0.0.1:9/"})
    r = requests.put(api + "/users/fuzz-user/servers/gpu", json={}, headers=headers, timeout=10)
    assert r.status_code == 201, r.text
    # Something to list on the sharing endpoints (grants answer 200).
    for path, body in [
        ("/shares/fuzz-user/", {"user": "fuzz-user-2"}),
        ("/shares/fuzz-user/gpu", {"group": "fuzz-group"}),
        ("/share-codes/fuzz-user/", {}),
    ]:
        r = requests.post(api + path, json=body, headers=headers, timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text)
    return post("/users/fuzz-user/tokens", {"note": "fuzz"})["id"]


def run_schemathesis(schema_url, base_url, workdir, *extra):
    st = Path(sys.executable).with_name("st")
    cmd = [
        str(st),
        "--config-file",
        str(workdir / "schemathesis.toml"),
        "run",
        schema_url,
        "--url",
        base_url,
        "--header",
        f"Authorization: token {TOKEN}",
        # It would stop the replica under test.
        "--exclude-operation-id",
        "shutdown",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--workers",
        "2",
        "--request-timeout",
        "20",
        "--generation-database",
        "none",
        "--no-color",
        *extra,
    ]
    # The tool itself (a C extension, at interpreter teardown) once died of SIGSEGV in CI
    # after printing a clean summary. A death by signal is a crash of the tool, not a
    # finding: its stack is printed (faulthandler) and the run is repeated once. A finding
    # exits 1 and is never retried; a second crash fails the test.
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    for attempt in range(2):
        proc = subprocess.run(
            cmd, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT_S, env=env
        )
        out = proc.stdout + proc.stderr
        print(out[-3000:])  # shown by pytest on failure, or with -s
        if proc.returncode >= 0:
            break
        print(f"schemathesis died of signal {-proc.returncode} (attempt {attempt + 1})")
    assert proc.returncode == 0, f"schemathesis found problems:\n{out[-20000:]}"
    assert " passed" in out, out[-5000:]


@pytest.fixture
def fuzz_cluster(tmp_path):
    """Spawns during fuzzing start cheap stand-in servers, so a spawn never fails for lack of
    a Jupyter installation (that would be a correct 500, but not what this test checks).
    Named servers are on, with a small limit, so their endpoints are reached too."""
    hub = "allow_named_servers = true\nnamed_server_limit_per_user = 2"
    c = Cluster(tmp_path, hub_extra=hub, extra=fake_spawner_extra(tmp_path))
    c.start()
    yield c
    c.stop()


def test_api_conforms_to_its_openapi_document(fuzz_cluster, tmp_path):
    cluster = fuzz_cluster
    r = cluster.replicas[0]
    schema_url = r.api + "/openapi.json"
    doc = requests.get(schema_url, timeout=5)
    assert doc.status_code == 200, doc.text
    assert doc.json()["openapi"].startswith("3.")
    token_id = make_fixtures(r.api, cluster.headers)
    (tmp_path / "schemathesis.toml").write_text(CHECKS_CONFIG + CONFIG.format(token_id=token_id))
    base_url = f"http://{r.ip}:{r.api_port}"

    run_schemathesis(schema_url, base_url, tmp_path)
    # The list endpoints again, asking for the pagination envelope (OpenAPI cannot declare
    # an `Accept` parameter, so the generator never sends it by itself).
    run_schemathesis(
        schema_url,
        base_url,
        tmp_path,
        "--header",
        f"Accept: {PAGINATION}",
        "--include-operation-id-regex",
        "^(list_users|list_groups|get_proxy_routes)$",
        "--phases",
        "coverage,fuzzing",
    )
    # Every replica still serves (nothing crashed or wedged).
    for rep in cluster.replicas:
        cluster.wait_ready(rep, timeout=10)
