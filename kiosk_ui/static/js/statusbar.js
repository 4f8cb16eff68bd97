/* The status bar: devices, storage, network, USB, the clock; a tap explains an item. */
import { api } from "./api.js";
import { $, $$, CFG } from "./config.js";
import { armOnOwnTouch } from "./dialog.js";
import { T } from "./i18n.js";

// -- status bar ----------------------------------------------------------------------
/* Sizes as the clerk reads them: "71,9 GB" in Vietnamese (decimal comma), "71.9 GB" in English. */
function gb(n) {
  const digits = n >= 1e12 ? 0 : 1;
  return (n / 1073741824).toLocaleString(CFG.lang === "vi" ? "vi-VN" : "en-GB",
    { minimumFractionDigits: digits, maximumFractionDigits: digits }) + " GB";
}
function setDev(id, ok) {
  const li = document.getElementById(id);
  if (!li) return;
  li.dataset.ok = ok ? "yes" : "no";
  li.querySelector("b").textContent = ok ? "✓" : "✗";
  li.title = ok ? T("Working") : T("Not connected");
}
function clock() {
  const b = $("#st-time b");
  if (b) b.textContent = new Date().toLocaleTimeString(CFG.lang === "vi" ? "vi-VN" : "en-GB", { hour: "2-digit", minute: "2-digit" });
}
async function refreshStatus() {
  try {
    const st = await api("GET", "/status");
    setDev("st-camera", st.camera.available);
    setDev("st-pedal", st.pedal.available);
    const disk = $("#st-disk b");
    if (disk) disk.textContent = gb(st.disk.free);
    const backlog = $("#backlog");
    if (backlog) backlog.textContent = st.backlog;
    const q = $("#st-queue b");
    if (q) q.textContent = st.upload_queue == null ? "—" : st.upload_queue;
    setNet(st.network);
    setUsb(st.usb);
    statusExplained = st.explain || {};
  } catch (e) { /* the next tick retries */ }
}
/* A tap on a status item says its state and what to do (no hover on a touchscreen). */
let statusExplained = {};
function bindStatusDetail() {
  const box = $("#status-detail");
  if (!box) return;
  armOnOwnTouch(box);
  $$("#status li[id]").forEach((li) => li.addEventListener("click", () => {
    const d = statusExplained[li.id];
    if (!d) return;
    $("#sd-title").textContent = li.firstChild.textContent.trim() || li.id;
    $("#sd-state").textContent = d.state;
    $("#sd-todo").textContent = d.todo;
    box.hidden = false;
  }));
  box.addEventListener("click", (e) => {
    if (box.armed && (e.target === box || e.target.id === "sd-close")) box.hidden = true;
  });
}
/* The Network item: ok / failing / paused (upload window) / off; the summary says why
   (waiting count, last error in plain words), also on the upload queue item. */
const NET_MARK = { ok: "✓", failing: "✗", paused: "⏸", off: "—" };
function setNet(net) {
  const li = document.getElementById("st-net");
  if (!li || !net) return;
  li.dataset.state = net.state;
  li.querySelector("b").textContent = NET_MARK[net.state] || "—";
  let why = CFG.lang === "vi" ? net.summary_vi : net.summary_en;
  if (net.last_success) {
    const at = new Date(net.last_success).toLocaleString(CFG.lang === "vi" ? "vi-VN" : "en-GB");
    why += " " + T("Last delivery:") + " " + at;
  }
  li.title = why;
  const q = document.getElementById("st-queue");
  if (q) q.title = why;
}
/* The USB item of the status bar: none / present / refused / several / writing / safe. */
const USB_MARK = { none: "—", present: "✓", refused: "✗", several: "2+", writing: "⇪", safe: "⏏" };
const USB_TEXT = {
  none: "No USB stick", present: "Registered USB stick", refused: "USB stick refused",
  several: "Several USB sticks", writing: "Do not remove the USB", safe: "Safe to remove the USB",
};
export function setUsb(usb) {
  const li = document.getElementById("st-usb");
  if (!li || !usb) return;
  li.dataset.state = usb.state;
  li.querySelector("b").textContent = USB_MARK[usb.state] || "—";
  li.title = T(USB_TEXT[usb.state] || "No USB stick") + (usb.label ? " · " + usb.label : "");
}
if (CFG.signedIn) {
  bindStatusDetail();
  clock();
  setInterval(clock, 10000);
  refreshStatus();
  setInterval(refreshStatus, CFG.statusInterval);
}
