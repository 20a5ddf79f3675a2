"""An OAuth 2.0 identity provider for the generic-oauth login tests.

The protocol is oauthlib's `WebApplicationServer` (the library upstream JupyterHub's own OAuth
provider is built on): it checks the client's credentials, the redirect URI, single-use codes
and PKCE (S256 required), and issues bearer tokens. Only the user store is ours: who is
"logged in at the provider" is the `idp_user` cookie, set by `GET /idp-login?user=NAME`.

    python oauth_idp.py --port P --client-id ID --client-secret S --users users.json
      users.json: {"alice": {"groups": ["staff"], "email": "alice@example.org"}, ...}

`GET /stats` reports the requests the provider saw (token requests, their auth method).
"""

import argparse
import json
import secrets
import time

from oauthlib.oauth2 import RequestValidator, WebApplicationServer
from tornado import ioloop, web


class Validator(RequestValidator):
    def __init__(self, client_id, client_secret, users):
        self.client_id, self.client_secret, self.users = client_id, client_secret, users
        self.codes, self.tokens = {}, {}
        self.stats = {"token_requests": 0, "basic_auth": 0, "tokens_issued": 0}

    # --- clients ---
    def client_authentication_required(self, request, *a, **kw):
        return True

    def authenticate_client(self, request, *a, **kw):
        cid, secret = request.client_id, request.client_secret
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            import base64

            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            self.stats["basic_auth"] += 1
        if cid == self.client_id and secret == self.client_secret:
            request.client = type("Client", (), {"client_id": cid})()
            return True
        return False

    def authenticate_client_id(self, client_id, request, *a, **kw):
        return False

    def validate_client_id(self, client_id, request, *a, **kw):
        return client_id == self.client_id

    def validate_redirect_uri(self, client_id, redirect_uri, request, *a, **kw):
        return redirect_uri.endswith("/hub/oauth_callback")

    def get_default_redirect_uri(self, client_id, request, *a, **kw):
        return None

    def validate_response_type(self, client_id, response_type, client, request, *a, **kw):
        return response_type == "code"

    def validate_scopes(self, client_id, scopes, client, request, *a, **kw):
        return set(scopes) <= {"openid", "profile", "email", "hub:use"}

    def get_default_scopes(self, client_id, request, *a, **kw):
        return ["openid"]

    # --- codes (PKCE required) ---
    def is_pkce_required(self, client_id, request):
        return True

    def save_authorization_code(self, client_id, code, request, *a, **kw):
        self.codes[code["code"]] = {
            "client_id": client_id,
            "redirect_uri": request.redirect_uri,
            "user": request.user,
            "scopes": request.scopes,
            "challenge": request.code_challenge,
            "method": request.code_challenge_method,
        }

    def validate_code(self, client_id, code, client, request, *a, **kw):
        c = self.codes.get(code)
        if not c or c["client_id"] != client_id:
            return False
        request.user, request.scopes = c["user"], c["scopes"]
        request.code_challenge, request.code_challenge_method = c["challenge"], c["method"]
        return True

    def get_code_challenge(self, code, request):
        return self.codes.get(code, {}).get("challenge")

    def get_code_challenge_method(self, code, request):
        return self.codes.get(code, {}).get("method")

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *a, **kw):
        return self.codes.get(code, {}).get("redirect_uri") == redirect_uri

    def validate_grant_type(self, client_id, grant_type, client, request, *a, **kw):
        return grant_type == "authorization_code"

    def invalidate_authorization_code(self, client_id, code, request, *a, **kw):
        self.codes.pop(code, None)

    # --- tokens ---
    def save_bearer_token(self, token, request, *a, **kw):
        self.stats["tokens_issued"] += 1
        self.tokens[token["access_token"]] = {
            "user": request.user,
            "scopes": request.scopes,
            "expires": time.time() + token.get("expires_in", 3600),
        }

    def validate_bearer_token(self, token, scopes, request):
        t = self.tokens.get(token)
        if not t or t["expires"] < time.time():
            return False
        request.user, request.scopes = t["user"], t["scopes"]
        return True


class Base(web.RequestHandler):
    def initialize(self, v, server):
        self.v, self.server = v, server

    def oauth_args(self):
        return self.request.full_url(), self.request.method, self.request.body.decode(), dict(self.request.headers)

    def reply(self, headers, body, status):
        self.set_status(status)
        for k, val in headers.items():
            self.set_header(k, val)
        if body:
            self.write(body)


class IdpLogin(Base):
    def get(self):
        self.set_cookie("idp_user", self.get_argument("user"))
        self.write("ok")


class Authorize(Base):
    def get(self):
        user = self.get_cookie("idp_user")
        if user not in self.v.users:
            self.set_status(401)
            self.write("not logged in at the provider")
            return
        uri, method, body, headers = self.oauth_args()
        scopes, _ = self.server.validate_authorization_request(uri, method, body, headers)
        headers, body, status = self.server.create_authorization_response(
            uri, method, body, headers, scopes, {"user": user}
        )
        self.reply(headers, body, status)


class Token(Base):
    def post(self):
        self.v.stats["token_requests"] += 1
        headers, body, status = self.server.create_token_response(*self.oauth_args())
        self.reply(headers, body, status)


class UserInfo(Base):
    def get(self):
        uri, method, body, headers = self.oauth_args()
        ok, req = self.server.verify_request(uri, method, body, headers, ["openid"])
        if not ok:
            self.set_status(401)
            self.write({"error": "invalid_token"})
            return
        info = dict(self.v.users[req.user])
        info.update({"sub": req.user, "username": req.user, "preferred_username": req.user})
        self.write(info)


class Stats(Base):
    def get(self):
        self.write(self.v.stats)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--users", required=True)
    a = p.parse_args()
    v = Validator(a.client_id, a.client_secret, json.load(open(a.users)))
    server = WebApplicationServer(v, token_generator=lambda r: secrets.token_hex(16))
    kw = {"v": v, "server": server}
    app = web.Application(
        [(path, h, kw) for path, h in [
            ("/idp-login", IdpLogin), ("/authorize", Authorize), ("/token", Token),
            ("/userinfo", UserInfo), ("/stats", Stats),
        ]]
    )
    app.listen(a.port, a.ip)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
