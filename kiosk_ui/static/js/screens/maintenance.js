/* Maintenance screen: operators and the checks, each action audited. */
import { api, fail } from "../api.js";
import { $, $$ } from "../config.js";
import { hideKeyboard } from "../keyboard.js";

// -- maintenance screen: act on operators, run the checks again (each audited) ---------
export function initMaintenance() {
  const shown = $("#pin-shown");
  const showPin = (code, pin) => {
    $("#pin-code").textContent = code;
    $("#pin-value").textContent = pin;
    shown.hidden = false;
  };
  $("#pin-ok").addEventListener("click", () => { shown.hidden = true; location.reload(); });
  $$("#operators [data-op-act]").forEach((b) => b.addEventListener("click", async () => {
    const code = b.closest("li").dataset.code;
    const act = b.dataset.opAct;
    if (act === "disable" && !window.confirm(b.textContent + " " + code + "?")) return;
    try {
      const out = await api("POST", `/operators/${code}/${act}`);
      if (out.pin) showPin(code, out.pin); else location.reload();
    } catch (e) { fail(e); }
  }));
  $("#add-operator").addEventListener("submit", async (e) => {
    e.preventDefault();
    hideKeyboard();
    const fd = new FormData(e.target);
    try {
      const out = await api("POST", "/operators", { name: fd.get("name") || "", role: fd.get("role") });
      showPin(out.code, out.pin);
    } catch (err) { fail(err); }
  });
  $("#rerun-checks").addEventListener("click", async (e) => {
    e.target.disabled = true;
    try {
      const data = await api("POST", "/maintenance/checks");
      const list = $("#checks");
      list.replaceChildren();
      for (const c of data.checks) {
        const li = document.createElement("li");
        li.className = c.ok ? "ok" : "bad";
        li.textContent = (c.ok ? "✓ " : "✗ ") + c.detail + (c.fix ? " → " + c.fix : "");
        list.append(li);
      }
    } catch (err) { fail(err); } finally { e.target.disabled = false; }
  });
}
