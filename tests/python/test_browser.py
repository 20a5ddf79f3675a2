"""Headless Chromium through a 3-replica cluster: log in, start a server, JupyterLab loads
through the proxy, a kernel executes 1+1 over its websocket, stop the server, log out.
Screenshots of every page go to $ARTIFACTS_DIR (default: tests/python/artifacts)."""

import os
import pathlib
import shutil

import pytest

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = pathlib.Path(os.environ.get("ARTIFACTS_DIR", pathlib.Path(__file__).parent / "artifacts"))

KERNEL_JS = """
async (prefix) => {
  const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || "";
  const r = await fetch(prefix + "api/kernels", {method: "POST", headers: {"X-XSRFToken": xsrf, "Content-Type": "application/json"}, body: "{}"});
  if (!r.ok) return "kernel start failed: " + r.status;
  const k = await r.json();
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + prefix + "api/kernels/" + k.id + "/channels";
  return await new Promise((resolve) => {
    const ws = new WebSocket(url);
    const msg_id = "m" + Math.random();
    ws.onopen = () => ws.send(JSON.stringify({
      header: {msg_id, username: "", session: "s", msg_type: "execute_request", version: "5.3", date: new Date().toISOString()},
      parent_header: {}, metadata: {}, channel: "shell",
      content: {code: "1+1", silent: false, store_history: false, user_expressions: {}, allow_stdin: false},
    }));
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.msg_type === "execute_result" && m.parent_header.msg_id === msg_id) { resolve(m.content.data["text/plain"]); ws.close(); }
    };
    ws.onerror = () => resolve("websocket error");
    setTimeout(() => resolve("timeout"), 60000);
  });
}
"""


def test_login_start_lab_kernel_stop_logout(spawn_cluster, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = spawn_cluster.replicas[1].public
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"]
    with playwright.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=args
        )
        page = ctx.new_page()
        # Without `next` a login goes on to spawn the server (redirect_to_server); the
        # home page and its buttons are what this walk-through covers.
        page.goto(f"{base}/hub/login?next=%2Fhub%2Fhome")
        page.screenshot(path=str(ARTIFACTS / "01-login.png"))
        page.fill("#username", "alice")
        page.fill("#password", "anything")
        page.click("#login_submit")
        page.wait_for_url("**/hub/home")
        page.screenshot(path=str(ARTIFACTS / "02-home.png"))
        page.click("#start")
        page.wait_for_url("**/user/alice/**", timeout=90_000)
        page.wait_for_selector("#jp-main-dock-panel, .jp-LabShell", timeout=90_000)
        page.screenshot(path=str(ARTIFACTS / "03-lab.png"))
        assert page.evaluate(KERNEL_JS, "/user/alice/") == "2"
        page.goto(f"{base}/hub/home")
        page.screenshot(path=str(ARTIFACTS / "04-home-running.png"))
        page.click("#stop")
        page.wait_for_selector("#start", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "05-stopped.png"))
        page.goto(f"{base}/hub/token")
        page.screenshot(path=str(ARTIFACTS / "06-token.png"))
        page.goto(f"{base}/hub/logout")
        page.wait_for_url("**/hub/login")
        page.screenshot(path=str(ARTIFACTS / "07-logged-out.png"))
        ctx.close()
