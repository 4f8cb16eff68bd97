/* The application update's screen: while the fleet agent switches the kiosk to a new
 * release, tries it out, or switches back (firmware.fleet.link.read_update_state), every
 * screen is covered by "Đang cập nhật phần mềm… Vui lòng không tắt máy" with the step it is
 * at; it goes once the release is committed or rolled back. Events (KIND.UPDATE) say so at
 * once when signed in; a slow poll of /api/v1/update covers the sign-in screen and an event
 * stream cut while the service restarts, during which what is shown stays up. */
import { KIND } from "./config.js";
import { onEvent } from "./events.js";

const POLL_MS = 3000;
const ORDER = ["switch", "trial"];
const box = document.getElementById("update-screen");

function show(st) {
  if (!box || !st) return;
  box.hidden = !st.switching;
  if (!st.switching) return;
  box.dataset.step = st.step;
  const at = ORDER.indexOf(st.step);
  box.querySelectorAll(".update-steps li").forEach((li) => {
    const i = ORDER.indexOf(li.dataset.step);
    li.dataset.state = li.dataset.step === st.step ? "now" : (at < 0 || (i >= 0 && i < at)) ? "done" : "";
  });
  const v = document.getElementById("upd-version");
  if (v) v.textContent = (st.previous ? st.previous + " → " : "") + (st.version || "");
}

async function poll() {
  try {
    const r = await fetch("/api/v1/update", { cache: "no-store" });
    if (r.ok) show(await r.json());
  } catch (e) { /* the service is restarting onto the new release: keep what is shown */ }
}

if (box) {
  onEvent((ev) => { if (ev.kind === KIND.UPDATE) show(ev); });
  poll();
  setInterval(poll, POLL_MS);
}
