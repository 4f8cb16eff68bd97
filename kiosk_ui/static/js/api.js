/* Calls to the kiosk's API and the toast that reports their errors. */
import { $, CFG } from "./config.js";
import { T } from "./i18n.js";

// -- API -----------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}
export async function api(method, path, body) {
  const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch("/api/v1" + path, opts);
  } catch (e) {
    throw new ApiError(0, "offline", T("The connection to the kiosk was lost. Retrying..."));
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    if (res.status === 401 && CFG.signedIn && data.code === "not_signed_in") {
      location.href = "/signin?reason=idle";
    }
    throw new ApiError(res.status, data.code || "error", data.message || res.statusText);
  }
  return data;
}

let toastTimer = 0;
export function toast(msg, kind = "", ms = 4000) {
  const el = $("#toast");
  el.textContent = msg;
  el.className = "toast " + kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, ms);
}
export const fail = (e) => toast(e.message || String(e), "err", 6000);
