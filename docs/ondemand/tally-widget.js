// An example Open OnDemand dashboard widget for Tally (docs/ondemand):
// who you are, this month's total and your ten latest jobs, read from
// Tally's API with your personal token. Text is set with textContent,
// never as HTML: job names are whatever people typed.
"use strict";
(function () {
  const root = document.getElementById("tally-widget");
  const base = root.dataset.tallyUrl.replace(/\/$/, "") + "/api/v1";
  const $ = (id) => document.getElementById(id);
  const status = (text, isError) => { $("tally-status").textContent = text; $("tally-status").className = isError ? "error" : "muted"; };
  // sessionStorage: the token lives as long as this tab, not on the disk.
  const stored = () => sessionStorage.getItem("tally-token");

  async function api(path, token) {
    // No cookies are sent or needed (credentials: "omit"): the token is the only credential.
    const resp = await fetch(base + path, { headers: { Authorization: "Bearer " + token }, credentials: "omit" });
    const body = await resp.json().catch(() => null);
    if (!resp.ok) {
      const err = new Error(body && body.error ? body.error.message : "Tally answered " + resp.status);
      err.code = body && body.error ? body.error.code : "http_" + resp.status;
      err.retryAfter = resp.headers.get("Retry-After");
      throw err;
    }
    return body;
  }

  const money = (m) => (m ? m.amount + " " + m.currency : "not rated yet");
  const cell = (tr, text, cls) => { const td = tr.insertCell(); td.textContent = text; if (cls) td.className = cls; };

  async function show(token) {
    status("Asking Tally…");
    const first = new Date(); first.setUTCDate(1);
    const from = first.toISOString().slice(0, 10);
    const [me, totals, recent] = await Promise.all([
      api("/me", token),
      api("/jobs/totals?from=" + from, token),
      api("/jobs?limit=10", token),
    ]);
    $("tally-user").textContent = me.slurm_user;
    $("tally-roles").textContent = me.roles.join(", ");
    $("tally-total").textContent = money(totals.total);
    $("tally-jobs").textContent = String(totals.jobs);
    const tbody = $("tally-recent");
    tbody.replaceChildren();
    for (const j of recent.jobs) {
      const tr = tbody.insertRow();
      cell(tr, String(j.job_id));
      cell(tr, j.name);
      cell(tr, j.account);
      cell(tr, j.state);
      cell(tr, j.end ? j.end.replace("T", " ").slice(0, 16) : "running");
      cell(tr, money(j.total), "num");
    }
    $("tally-body").hidden = false;
    $("tally-token-form").hidden = true;
    status("");
  }

  async function start() {
    const token = stored();
    if (!token) { $("tally-token-form").hidden = false; return; }
    try {
      await show(token);
    } catch (err) {
      if (["unauthenticated", "invalid_token", "token_revoked", "token_expired"].includes(err.code)) {
        sessionStorage.removeItem("tally-token");
        $("tally-token-form").hidden = false;
      }
      status(err.message + (err.retryAfter ? " (try again in " + err.retryAfter + " s)" : ""), true);
    }
  }

  $("tally-token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("tally-token", $("tally-token").value.trim());
    $("tally-token").value = "";
    start();
  });
  $("tally-forget").addEventListener("click", () => {
    sessionStorage.removeItem("tally-token");
    $("tally-body").hidden = true;
    start();
  });
  start();
})();
