/* Scan screen: live view, capture, retake notes, cover sheets; the demo's pedal. */
import { api, fail, toast } from "../api.js";
import { $, CFG, KIND } from "../config.js";
import { armOnOwnTouch } from "../dialog.js";
import { onEvent } from "../events.js";
import { T } from "../i18n.js";
import { Pages } from "../pages.js";

// -- scan screen ---------------------------------------------------------------------
export function initScan() {
  const root = $("#scan");
  const state = $("#live-state");
  const finishBtn = $("#finish");
  const captureBtn = $("#capture");
  const retakeNote = $("#retake-note");
  const pages = new Pages($("#thumbs"), root.dataset.doc || null, {
    onChange: (doc) => {
      $("#page-count").textContent = doc.pages.length;
      finishBtn.disabled = doc.pages.length === 0;
      $("#thumbs-hint").hidden = doc.pages.length > 0;
      showRetake(doc.pages);
    },
  });
  /* The page just captured failed a quality gate (blurred, dark, glare, cut off, no page):
   * say so on the screen at once, with why and what to do, in the catalog's words, and a
   * one-tap retake; the clerk should not have to spot the "!" and open the page (issue 16).
   * The note follows that page: it goes once the page is retaken, kept or deleted. */
  let retakeId = null;
  function showRetake(list) {
    const p = retakeId && list.find((x) => x.id === retakeId);
    if (!p || p.state !== "rejected" || p.kept) { retakeNote.hidden = true; return; }
    const why = p.issues.filter((i) => i.severity === "error").map((i) => i.message);
    $("#retake-text").textContent = `${T("Page")} ${p.seq} ${T("must be retaken")}: ${why.join("; ")}`;
    retakeNote.dataset.page = p.id;
    retakeNote.hidden = false;
  }
  armOnOwnTouch(retakeNote);
  retakeNote.querySelector("[data-act='retake']").addEventListener("click", async (e) => {
    if (!retakeNote.armed || !retakeId) return;
    const btn = e.currentTarget;
    btn.disabled = true;
    try {
      const out = await api("POST", `/pages/${retakeId}/retake`);
      if (out.page) retakeId = out.page.id;
      await pages.refresh();
    } catch (err) { fail(err); } finally { btn.disabled = false; }
  });
  pages.canRetake = true;
  if (pages.docId) pages.refresh().catch(() => {});
  let finishing = false;

  onEvent((ev) => {
    if (ev.kind === KIND.BACKLOG) $("#backlog").textContent = ev.backlog;
    if (ev.kind === KIND.PAGE && ev.doc_id) {
      if (!pages.docId) pages.docId = ev.doc_id;
      if (ev.doc_id === pages.docId && ev.preview && ev.seq) pages.showNew(ev);
      if (ev.doc_id === pages.docId && ev.quality) retakeId = ev.page_id;  // a capture's verdict
      if (ev.doc_id === pages.docId) pages.refresh().catch(() => {});
    }
    if (ev.kind === KIND.SHEET) showSheet(ev);
    if (ev.kind === KIND.DOCUMENT && ev.doc_id === pages.docId && !finishing &&
        ["processing", "review", "failed"].includes(ev.state)) {
      location.href = `/review/${pages.docId}`;  // the pedal was held: finished
    }
  });

  /* A QR cover sheet or batch separator was read (never archived as a page): the event
   * comes before any state event of the document it closed, so the screen follows the
   * new document instead of jumping to the review of the old one. A QR that is no
   * usable sheet (the frame stays a page) is said once, in a toast. */
  function showSheet(ev) {
    const note = $("#sheet-note");
    const vi = CFG.lang === "vi";
    if (ev.sheet === "invalid") {
      toast(vi ? ev.message_vi : ev.message_en, "err", 6000);
      return;
    }
    if (ev.sheet === "enrolled") {  // the hub's enrollment QR, shown by IT's request
      toast((ev.already ? T("This kiosk is already enrolled with the hub") : T("Enrolled with the hub")) + ": " + ev.hub, "", 8000);
      return;
    }
    note.textContent = ev.sheet === "cover"
      ? T("Cover sheet read:") + " " + (vi ? ev.summary_vi : ev.summary_en)
      : T("Batch separator: the next document begins");
    note.hidden = false;  // stays until the next sheet (a toast would cover Finish)
    if (ev.doc_id && ev.doc_id !== pages.docId) {
      pages.docId = ev.doc_id;
      pages.refresh().catch(() => {});
    }
  }

  document.querySelectorAll(".sources [data-source]").forEach((btn) => {
    btn.addEventListener("click", async () => {
      try {
        const out = await api("PUT", "/capture-source", { source: btn.dataset.source });
        root.dataset.source = out.source;
        document.querySelectorAll(".sources [data-source]").forEach((b) =>
          b.setAttribute("aria-pressed", String(b.dataset.source === out.source)));
      } catch (e) { fail(e); }
    });
  });

  captureBtn.addEventListener("click", async () => {
    captureBtn.setAttribute("aria-busy", "true");
    captureBtn.disabled = true;
    try {
      if (root.dataset.source === "scanner") {
        const out = await api("POST", "/scan", { doc_id: pages.docId });
        // the last document the batch filled (separators in the feeder open new ones)
        const last = out.pages.length ? out.pages[out.pages.length - 1] : null;
        if (last) pages.docId = last.doc_id;
        else if (out.sheets && out.sheets.length) pages.docId = out.sheets[out.sheets.length - 1].doc_id;
      } else {
        const out = await api("POST", "/capture", { doc_id: pages.docId });
        pages.docId = out.page ? out.page.doc_id : out.sheet.doc_id;
        if (out.page) retakeId = out.page.id;
      }
      await pages.refresh();
    } catch (e) { fail(e); } finally {
      captureBtn.disabled = false;
      captureBtn.removeAttribute("aria-busy");
    }
  });
  finishBtn.addEventListener("click", async () => {
    if (!pages.docId) return;
    finishing = true;
    finishBtn.disabled = true;
    try {
      await api("POST", `/documents/${pages.docId}/finish`);
      location.href = `/review/${pages.docId}`;
    } catch (e) { finishing = false; finishBtn.disabled = false; fail(e); }
  });

  bindSimPedal();

  // live view: poll the detection, then show that frame's JPEG with the outline over it
  const img = $("#live-img");
  const live = $("#live");
  if (!img) return;
  const poly = $("#live-quad");
  let busy = false;
  async function tick() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const f = await api("GET", "/live");
      if (f.quad) poly.setAttribute("points", f.quad.map((p) => p.join(",")).join(" "));
      else poly.setAttribute("points", "");
      const tone = f.ready ? "ok" : "wait";
      live.dataset.tone = tone;
      state.dataset.tone = f.reason === "camera" ? "bad" : tone;
      state.textContent = f.ready
        ? (f.auto_capture ? T("Auto capture is on: hold the page still") : T("Ready: press the pedal or Capture page"))
        : (f.message || f.reason);  // translated by the server, from the catalogs
      if (f.reason !== "camera") {
        await new Promise((resolve) => {
          const next = new Image();
          next.onload = next.onerror = resolve;
          next.src = `/api/v1/live.jpg?s=${f.seq}`;
          img.src = next.src;
        });
      }
    } catch (e) {
      state.dataset.tone = "bad";
      state.textContent = e.message;
    } finally { busy = false; }
  }
  tick();
  setInterval(tick, CFG.liveInterval);
}

/* The demo's on-screen pedal: finger down presses, finger up releases; holding it
 * finishes the document, as the real pedal does (the server drives the mock pin). */
function bindSimPedal() {
  const b = $("#sim-pedal");
  if (!b) return;
  let down = false;
  let chain = Promise.resolve();  // down and up reach the server in the finger's order
  const send = (pressed) => { chain = chain.then(() => api("PUT", "/sim-pedal", { pressed }).catch(fail)); };
  b.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    b.setPointerCapture(e.pointerId);
    down = true;
    b.setAttribute("aria-pressed", "true");
    send(true);
  });
  const up = () => {
    if (!down) return;
    down = false;
    b.setAttribute("aria-pressed", "false");
    send(false);
  };
  ["pointerup", "pointercancel", "lostpointercapture"].forEach((t) => b.addEventListener(t, up));
}
