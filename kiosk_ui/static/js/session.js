/* Sign out, and the idle sign-out with its warning. */
import { api } from "./api.js";
import { $, CFG } from "./config.js";

// -- sign out and idle ---------------------------------------------------------------
let signingOut = false;
async function signOut(reason) {
  // Once: the idle timer ticks every 250 ms, and on a busy kiosk the logout may take longer;
  // a second sign-out would post again and abort the first one's page change.
  if (signingOut) return;
  signingOut = true;
  await api("POST", "/session/logout", { reason }).catch(() => {});
  location.href = reason === "idle" ? "/signin?reason=idle" : "/signin";
}
const signoutBtn = $("#signout");
if (signoutBtn) signoutBtn.addEventListener("click", () => signOut("signout"));

const idle = { last: Date.now(), touched: Date.now(), warned: false };
export function activity() {
  idle.last = Date.now();
  if (idle.warned) { idle.warned = false; $("#idle-warning").hidden = true; }
  const every = Math.min(30, CFG.idleTimeout / 4) * 1000;
  if (Date.now() - idle.touched > every) {
    idle.touched = Date.now();
    api("POST", "/session/touch").catch(() => {});
  }
}
if (CFG.signedIn) {
  ["pointerdown", "keydown"].forEach((t) => document.addEventListener(t, activity, { capture: true, passive: true }));
  $("#idle-stay").addEventListener("click", activity);
  setInterval(() => {
    const idleFor = (Date.now() - idle.last) / 1000;
    const left = Math.ceil(CFG.idleTimeout - idleFor);
    if (left <= 0) { signOut("idle"); return; }
    if (left <= CFG.idleWarning) {
      idle.warned = true;
      $("#idle-warning").hidden = false;
      $("#idle-left").textContent = left;
    }
  }, 250);
}
