/* Export screen: preflight, the stick, the running export. */
import { api, fail } from "../api.js";
import { $, $$, KIND } from "../config.js";
import { onEvent } from "../events.js";
import { T } from "../i18n.js";

// -- export screen -------------------------------------------------------------------
export function initExport() {
  const data = JSON.parse($("#export-data").textContent);
  const startBtn = $("#export-start");
  const cancelBtn = $("#export-cancel");
  const stick = $("#stick");
  const errBox = $("#export-error");
  const FILE_TEXT = {
    waiting: "Waiting", writing: "Writing...", written: "Written, checking...",
    verified: "Exported", failed: "Failed",
  };
  let job = data.job;
  let preflight = data.preflight;
  const running = () => job && ["starting", "running", "verifying"].includes(job.state);
  const picked = () => $$("#export-docs input[name=doc]:checked").map((i) => i.value);
  const row = (id) => $(`#export-docs li[data-doc="${id}"]`);

  function showStick(pf) {
    preflight = pf;
    if (!pf) return;
    stick.dataset.status = pf.status;
    stick.dataset.reason = pf.reason;
    $("#stick-title").textContent = pf.title;
    $("#stick-msg").textContent = pf.message;
  }
  function setFile(id, state, done, total) {
    const li = row(id);
    if (!li) return;
    li.dataset.state = state;
    const bar = $("progress", li);
    if (total) bar.max = Math.max(total, 1);
    if (done !== undefined) bar.value = state === "verified" || state === "written" ? bar.max : Math.min(done, bar.max);
    if (state === "waiting") bar.value = 0;
    $(".file-label", li).textContent = T(FILE_TEXT[state] || state);
  }
  function render() {
    const busy = running();
    const finished = Boolean(job && job.state === "done");
    const n = picked().length;
    startBtn.hidden = busy || finished;
    startBtn.disabled = busy || !n || !(preflight && preflight.ready) || !data.recipients.ok;
    startBtn.textContent = T("Export") + (n ? ` (${n})` : "");
    cancelBtn.hidden = !busy;
    $$("#export-docs input[name=doc]").forEach((i) => { i.disabled = busy || finished; });
    const allBtn = $("#select-all");
    if (allBtn) allBtn.disabled = busy || finished;
    const stuck = finished && !job.safe_to_remove;  // exported, but the eject failed
    $("#donotremove").hidden = !(busy || stuck);
    $("#safe").hidden = !(job && job.safe_to_remove && ["done", "cancelled"].includes(job.state));
    $("#overall").hidden = !job;
    errBox.hidden = !(job && job.error);
    if (job && job.error) errBox.textContent = job.error.message;
    if (busy) {
      stick.dataset.status = "busy";
      $("#stick-title").textContent = job.state === "verifying" ? T("Checking the files on the USB stick...") : T("Exporting...");
      $("#stick-msg").textContent = T("Do not remove the USB");
    } else if (finished) {
      stick.dataset.status = "ready";
      $("#stick-title").textContent = T("Export finished");
      $("#stick-msg").textContent = stuck
        ? T("The USB stick could not be ejected safely: do not remove it yet; call IT support.")
        : T("Every file was read back from the USB stick and checked.");
    } else if (preflight) showStick(preflight);
    if (job) {
      $("#overall-bar").max = Math.max(job.bytes_total, 1);
      $("#overall-bar").value = job.state === "done" ? $("#overall-bar").max : job.bytes_done;
      const done = job.documents.filter((d) => ["written", "verified"].includes(d.state)).length;
      $("#overall-text").textContent = job.state === "done"
        ? T("Exported") + `: ${job.exported.length}/${job.documents.length}`
        : `${done}/${job.documents.length}`;
      job.documents.forEach((d) => setFile(d.id, d.state, d.bytes_done, d.bytes_total));
    }
  }
  let pfSeq = 0;
  async function refreshPreflight() {
    if (running() || (job && job.state === "done")) return;
    const ids = picked();
    const q = ids.map((id) => "doc=" + encodeURIComponent(id)).join("&");
    const mine = ++pfSeq;  // answers can overtake each other: only the latest counts
    try {
      const pf = await api("GET", "/export/preflight" + (q ? "?" + q : ""));
      if (mine === pfSeq) showStick(pf);
    } catch (e) { if (mine === pfSeq) fail(e); }
    render();
  }
  /* A job read from the server may be older than the events already shown: a file
   * never goes back from written to writing while the same export runs. */
  const RANK = { waiting: 0, writing: 1, written: 2, verified: 3, failed: 3 };
  function mergeJob(fresh) {
    if (fresh && job && fresh.state !== "failed" && fresh.state !== "cancelled" &&
        (!job.export_id || job.export_id === fresh.export_id)) {
      fresh.documents.forEach((d) => {
        const old = job.documents.find((x) => x.id === d.id);
        if (old && RANK[old.state] > RANK[d.state]) Object.assign(d, { state: old.state, bytes_done: old.bytes_done, bytes_total: old.bytes_total });
      });
      fresh.bytes_done = Math.max(fresh.bytes_done, job.bytes_done);
    }
    job = fresh;
  }
  async function refreshJob() {
    try { mergeJob(await api("GET", "/export/job")); } catch (e) { return; }
    render();
    if (!running()) refreshPreflight();
  }
  let pfTimer = 0;
  $$("#export-docs input[name=doc]").forEach((i) => i.addEventListener("change", () => {
    render();
    clearTimeout(pfTimer);
    pfTimer = setTimeout(refreshPreflight, 300);
  }));
  const all = $("#select-all");
  if (all) all.addEventListener("click", () => {
    const on = all.dataset.all !== "1";
    $$("#export-docs input[name=doc]").forEach((i) => { i.checked = on; });
    all.dataset.all = on ? "1" : "";
    all.textContent = on ? T("Select none") : T("Select all");
    render();
    refreshPreflight();
  });
  startBtn.addEventListener("click", async () => {
    startBtn.disabled = true;
    // Until the server answers, events of this export already update the rows.
    job = {
      export_id: "", state: "starting", error: null, safe_to_remove: false, exported: [],
      purged: [], bytes_done: 0, bytes_total: 0,
      documents: picked().map((id) => ({ id, state: "waiting", bytes_done: 0, bytes_total: 0 })),
    };
    try {
      mergeJob(await api("POST", "/export/start", { doc_ids: picked() }));
    } catch (e) {
      job = null;
      fail(e);
      await refreshPreflight();
      return;
    }
    render();
  });
  cancelBtn.addEventListener("click", async () => {
    try { job = await api("POST", "/export/cancel"); render(); } catch (e) { fail(e); }
  });
  $$("[data-sim]").forEach((b) => b.addEventListener("click", async () => {
    try {
      await api("PUT", "/export/sim-stick", { stick: b.dataset.sim });
      if (job && !running()) { location.reload(); return; }
      await refreshPreflight();
    } catch (e) { fail(e); }
  }));
  onEvent((ev) => {
    if (ev.kind === KIND.USB) {
      if (ev.action === "remove" && job && !running()) { location.reload(); return; }
      if (ev.action === "export") { refreshJob(); return; }
      refreshPreflight();
    }
    if (ev.kind !== KIND.EXPORT || !job) return;
    if (ev.phase === "start" && (!job.export_id || job.state === "starting")) {
      job.export_id = ev.export_id;
      job.state = "running";
    }
    if (ev.export_id !== job.export_id) return;
    job.bytes_done = ev.bytes_done;
    job.bytes_total = ev.bytes_total;
    if (ev.phase === "writing" && ev.doc_id) {
      const d = job.documents.find((x) => x.id === ev.doc_id);
      if (d) {
        d.state = ev.doc_state || "writing";
        d.bytes_done = ev.doc_bytes_done;
        if (d.state === "written") d.bytes_total = ev.doc_bytes_done;
      }
    }
    if (ev.phase === "verifying") job.state = "verifying";
    if (ev.phase === "done" || ev.phase === "failed") { refreshJob(); return; }
    render();
  });
  setInterval(() => { if (running()) refreshJob(); }, 2000);
  // A hot-plug event can be missed (the event stream reconnecting), and a check that
  // began just before a stick was pulled can answer after it: the stick at a glance (no
  // mount) is compared every few seconds, with its last look and with what the screen
  // shows, and any difference checks the stick again.
  let usbSeen = null;
  setInterval(async () => {
    if (running()) return;
    try {
      const u = (await api("GET", "/status")).usb || {};
      const key = [u.state, u.count, u.serial].join("|");
      const shownNone = !preflight || preflight.status === "no_device";
      const stale = (u.state === "none") !== shownNone;
      if ((usbSeen !== null && key !== usbSeen) || stale) refreshPreflight();
      usbSeen = key;
    } catch (e) { /* the next tick retries */ }
  }, 3000);
  render();
  if (!running() && preflight === null) refreshPreflight();
}
