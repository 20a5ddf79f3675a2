"""Login with an LDAP directory (`[auth] kind = "ldap"`, ldapauthenticator's
LDAPAuthenticator) against ldaptor's LDAP server (ldap_server.py): binding as the user with
`bind_dn_template`, group membership with `allowed_groups`, `lookup_dn` with a search user,
`search_filter`, blocked users and the username rules, StartTLS and ldaps with the
directory's certificate verified, through the login form of each replica."""

import pathlib
import re
import socket
import subprocess
import sys
import time

import pytest
import requests

from rafthub_cluster import Cluster, free_port

HERE = pathlib.Path(__file__).parent
BASE = "dc=example,dc=org"
PEOPLE = f"ou=people,{BASE}"
GROUP = f"cn=hub-users,ou=groups,{BASE}"


def person(uid, password, cn=None, mail=None):
    lines = [f"dn: uid={uid},{PEOPLE}", "objectClass: inetOrgPerson", f"uid: {uid}",
             f"cn: {cn or uid}", "sn: x", f"userPassword: {password}"]
    if mail:
        lines.append(f"mail: {mail}")
    return "\n".join(lines)


LDIF = "\n\n".join([
    f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example",
    f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
    f"dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups",
    person("alice", "alice-pw", mail="alice@example.org"),
    person("bob", "bob-pw"),
    person("carol", "carol-pw"),
    person("mallory", "mallory-pw"),
    person("dave", "dave-pw", cn="dsmith", mail="dave@example.org"),
    f"dn: {GROUP}\nobjectClass: groupOfNames\ncn: hub-users\n"
    f"member: uid=alice,{PEOPLE}\nmember: uid=carol,{PEOPLE}\nmember: uid=mallory,{PEOPLE}",
    f"dn: cn=search,{BASE}\nobjectClass: person\ncn: search\nsn: s\nuserPassword: search-pw",
]) + "\n\n"


def start_directory(tmp_path, args=()):
    ldif = tmp_path / "directory.ldif"
    ldif.write_text(LDIF)
    port = free_port("127.0.0.1")
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "ldap_server.py"), "--port", str(port), "--ldif", str(ldif), *args],
        stdout=open(tmp_path / "ldap.log", "ab"), stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert time.time() < deadline, (tmp_path / "ldap.log").read_text()
            time.sleep(0.1)
    return proc, port


@pytest.fixture
def directory(tmp_path):
    proc, port = start_directory(tmp_path)
    yield port
    proc.kill()
    proc.wait()


def ldap_cluster(tmp_path, port, auth="", ldap="", tls="insecure"):
    c = Cluster(tmp_path, extra=f"""
[auth]
kind = "ldap"
blocked_users = ["Mallory"]
{auth}
[auth.ldap]
server_address = "127.0.0.1"
server_port = {port}
tls_strategy = "{tls}"
{ldap}
""")
    c.start()
    return c


def lookup_dn(tmp_path):
    """`[auth.ldap]` lines that find the user by uid with a search user first."""
    (tmp_path / "search-pw").write_text("search-pw\n")
    return f"""lookup_dn = true
user_search_base = "{PEOPLE}"
user_attribute = "uid"
lookup_dn_search_user = "cn=search,{BASE}"
lookup_dn_search_password_file = "{tmp_path / 'search-pw'}"
lookup_dn_user_dn_attribute = "cn"
"""


def login(replica, name, password):
    s = requests.Session()
    page = s.get(f"{replica.public}/hub/login", timeout=10)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    r = s.post(f"{replica.public}/hub/login?next=/hub/home",
               data={"username": name, "password": password, "_xsrf": xsrf},
               allow_redirects=False, timeout=30)
    return r.status_code, s


def test_bind_dn_template_and_allowed_groups(tmp_path, directory):
    c = ldap_cluster(tmp_path, directory, ldap=f"""
bind_dn_template = ["uid={{username}},ou=nobody,{BASE}", "uid={{username}},{PEOPLE}"]
allowed_groups = ["{GROUP}", "cn=missing,ou=groups,{BASE}"]
""")
    try:
        cases = [
            ("alice", "alice-pw", 302),     # a member of an allowed group (second template)
            ("carol", "carol-pw", 302),
            ("alice", "wrong", 403),        # the directory refuses the bind
            ("alice", "", 403),             # never an anonymous bind
            ("bob", "bob-pw", 403),         # right password, not in an allowed group
            ("mallory", "mallory-pw", 403), # in the group, but blocked
            ("nobody", "x", 403),
            ("*", "x", 403),                # not a valid_username_regex name
            ("Alice", "alice-pw", 403),     # the default regex is lower case only, as upstream
        ]
        for i, (name, pw, want) in enumerate(cases):
            status, s = login(c.replicas[i % 3], name, pw)
            assert status == want, (name, pw, status)
            if want == 302:
                me = s.get(f"{c.replicas[i % 3].public}/hub/api/user", headers={"Sec-Fetch-Mode": "navigate"})
                assert me.json()["name"] == name
        names = {u["name"] for u in requests.get(c.replicas[0].api + "/users", headers=c.headers).json()}
        assert {"alice", "carol"} <= names and not names & {"bob", "mallory", "nobody"}
    finally:
        c.stop()


def test_lookup_dn_search_filter_and_allowed_users(tmp_path, directory):
    c = ldap_cluster(tmp_path, directory, auth='allowed_users = ["DAVE", "bob"]', ldap=lookup_dn(tmp_path) + """
search_filter = "(&(objectClass=inetOrgPerson)(cn={username}))"
""")
    try:
        # dave is found by uid, binds with the found DN; the name stays the login's. As
        # upstream, search_filter's {username} is the looked-up value (his cn).
        status, s = login(c.replicas[1], "dave", "dave-pw")
        assert status == 302
        assert s.get(f"{c.replicas[1].public}/hub/api/user", headers={"Sec-Fetch-Mode": "navigate"}).json()["name"] == "dave"
        # bob is allowed by name; search_filter (cn=bob) matches him once.
        assert login(c.replicas[2], "bob", "bob-pw")[0] == 302
        assert login(c.replicas[0], "dave", "bob-pw")[0] == 403
        # alice binds but is not allowed (no allowed_groups here).
        assert login(c.replicas[0], "alice", "alice-pw")[0] == 403
    finally:
        c.stop()


def test_use_lookup_dn_username_and_an_unreachable_directory(tmp_path, directory):
    c = ldap_cluster(tmp_path, directory, auth="allow_all = true", ldap=lookup_dn(tmp_path) + """
use_lookup_dn_username = true
""")
    try:
        status, s = login(c.replicas[0], "dave", "dave-pw")
        assert status == 302
        assert s.get(f"{c.replicas[0].public}/hub/api/user", headers={"Sec-Fetch-Mode": "navigate"}).json()["name"] == "dsmith"
    finally:
        c.stop()
    # A directory that does not answer: a refused login, not a crash of the hub.
    dead = free_port("127.0.0.1")
    (tmp_path / "dead").mkdir()
    c = ldap_cluster(tmp_path / "dead", dead, auth="allow_all = true",
                     ldap=f'bind_dn_template = "uid={{username}},{PEOPLE}"')
    try:
        assert login(c.replicas[0], "alice", "alice-pw")[0] == 403
        assert requests.get(c.replicas[0].api.replace("/api", "/health"), timeout=5).status_code == 200
    finally:
        c.stop()


def self_signed(tmp_path):
    """A certificate for 127.0.0.1 and its key (the test's own CA file)."""
    cert, key = tmp_path / "ldap-cert.pem", tmp_path / "ldap-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-addext", "basicConstraints=critical,CA:FALSE"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize("mode", ["starttls", "ldaps"])
def test_tls_to_the_directory_is_verified(tmp_path, mode):
    cert, key = self_signed(tmp_path)
    proc, port = start_directory(tmp_path, ["--tls", mode, "--cert", str(cert), "--key", str(key)])
    strategy = {"starttls": "before_bind", "ldaps": "on_connect"}[mode]
    try:
        # With the directory's CA the login works; without it the handshake is refused
        # (UnknownIssuer in the replica's log), never a plain-text fallback.
        for ca, want in [(f'ca_file = "{cert}"', 302), ("", 403)]:
            d = tmp_path / f"cluster-{want}"
            d.mkdir()
            c = ldap_cluster(d, port, auth="allow_all = true", tls=strategy, ldap=f"""
bind_dn_template = "uid={{username}},{PEOPLE}"
{ca}
""")
            try:
                assert login(c.replicas[0], "alice", "alice-pw")[0] == want, (mode, ca)
            finally:
                c.stop()
        assert "UnknownIssuer" in (tmp_path / "cluster-403" / "node-1.log").read_text()
    finally:
        proc.kill()
        proc.wait()
