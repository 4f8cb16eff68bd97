/* Review screen: the metadata form and the register box. */
import { api, fail, toast } from "../api.js";
import { $ } from "../config.js";
import { onEvent } from "../events.js";
import { T } from "../i18n.js";
import { hideKeyboard } from "../keyboard.js";
import { Pages } from "../pages.js";

// -- review screen -------------------------------------------------------------------
export function initReview() {
  const root = $("#review");
  const docId = root.dataset.doc;
  const save = $("#save");
  const pages = new Pages($("#thumbs"), docId, {
    onChange: (doc) => {
      $("#processing").hidden = !["processing", "sealing"].includes(doc.state);
      $("#failed").hidden = doc.state !== "failed";
      $("#failed").textContent = doc.state_label;
      if (save) save.disabled = doc.state !== "review";
      if (doc.state === "review" && form && !form.dataset.read) fillForm().catch(() => {});
    },
  });
  pages.canRetake = false;
  pages.refresh().catch(() => {});
  onEvent((ev) => { if (ev.doc_id === docId) pages.refresh().catch(() => {}); });
  const poll = setInterval(() => {
    if (save && !save.disabled) { clearInterval(poll); return; }
    pages.refresh().catch(() => {});
  }, 2000);
  const add = $("#add-pages");
  if (add) add.addEventListener("click", async () => {
    try { await api("POST", `/documents/${docId}/resume`); location.href = "/scan"; } catch (e) { fail(e); }
  });
  const form = $("#meta-form");
  if (!form) { offerOnlyWhatASavedDocumentAllows(pages); return; }
  const initial = JSON.parse($("#form-data").textContent);
  if (initial.read) form.dataset.read = "1";
  /* Fields the clerk touched are theirs: a late fill (page 1 read after the screen
   * opened) or a register suggestion never overwrites what was typed. */
  form.addEventListener("input", (e) => {
    const fld = e.target.closest(".fld");
    if (fld) { fld.dataset.source = "clerk"; delete fld.dataset.unsure; fld.dataset.touched = "1"; setSrc(fld, ""); }
  });
  form.addEventListener("change", (e) => {
    const fld = e.target.closest(".fld");
    if (fld && e.target.tagName === "SELECT") { fld.dataset.source = "clerk"; delete fld.dataset.unsure; fld.dataset.touched = "1"; setSrc(fld, ""); }
  });
  function setSrc(fld, text) { const el = $(".src", fld); if (el) el.textContent = text; }
  const INPUT = { subject: "#m-title", issuer: "#m-issuer", doc_type: "#m-type", number_symbol: "#m-number", date: "#m-date" };
  function putField(name, value, source, unsure, label) {
    const el = $(INPUT[name], form);
    const fld = el && el.closest(".fld");
    if (!el || !fld || fld.dataset.touched) return;
    el.value = name === "date" ? isoToShown(value) : value;
    fld.dataset.source = source;
    if (unsure) fld.dataset.unsure = "1"; else delete fld.dataset.unsure;
    setSrc(fld, label);
  }
  async function fillForm() {
    const data = await api("GET", `/documents/${docId}/form`);
    if (!data.read) return;
    form.dataset.read = "1";
    for (const [name, f] of Object.entries(data.fields)) {
      if (!f.value) continue;
      putField(name, f.value, f.source, f.unsure, f.unsure ? T("please check") : "");
    }
    const hint = $("#form-hint");
    if (hint) hint.hidden = true;
    form.dispatchEvent(new Event("sohoa:filled"));
  }
  form.fillFromEntry = (e) => {
    const values = { subject: e.subject, issuer: e.issuer, doc_type: e.doc_type, number_symbol: e.number_symbol, date: e.date };
    for (const [name, v] of Object.entries(values)) if (v) putField(name, v, "register", false, T("from the register"));
  };
  const err = $("#form-error");
  const showErr = (msg) => { err.textContent = msg; err.hidden = !msg; };
  form.addEventListener("change", () => {
    const level = form.querySelector("input[name=confidentiality]:checked");
    showErr(level && level.value === "tuyet_mat" ? T("Top secret documents are not digitized.") : "");
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    hideKeyboard();
    const fd = new FormData(form);
    const body = {
      title: fd.get("title") || "", doc_type: fd.get("doc_type") || null, number: fd.get("number") || "",
      date: fd.get("date") || "", issuer: fd.get("issuer") || "", confidentiality: fd.get("confidentiality") || "thuong",
    };
    if (body.date && !/^\d{1,2}\/\d{1,2}\/\d{4}$/.test(body.date)) {
      showErr(T("Date must be written as day/month/year, e.g. 10/04/2025."));
      return;
    }
    save.disabled = true;
    save.textContent = T("Processing...");
    try {
      const out = await api("POST", `/documents/${docId}/seal`, body);
      form.hidden = true;
      $("#saved-where").textContent = out.destination.message;
      $("#saved").hidden = false;
      offerOnlyWhatASavedDocumentAllows(pages);
      toast(T("Saved"), "ok");
    } catch (ex) {
      showErr(ex.message);
      // a Tuyệt mật declaration sticks: offer to discard the capture instead
      if (ex.code === "top_secret_refused") $("#top-secret-offer").hidden = false;
      save.disabled = false;
    } finally {
      if (!form.hidden) save.textContent = save.dataset.label;
      if (form.hidden) $("#discard-box").hidden = true;
    }
  });
  save.dataset.label = save.textContent;
  const discard = $("#discard");
  discard.addEventListener("click", async () => {
    if (!window.confirm(discard.dataset.confirm)) return;
    discard.disabled = true;
    try {
      await api("POST", `/documents/${docId}/discard`, { reason: "" });
      location.href = "/";
    } catch (ex) { discard.disabled = false; fail(ex); }
  });
  initRegisterBox(form, docId);
}

/* A sealed document cannot change: "add or retake pages" and the viewer's page edits go
 * away the moment it is saved, instead of answering "already saved" when tapped. */
function offerOnlyWhatASavedDocumentAllows(pages) {
  const add = $("#add-pages");
  if (add) add.remove();
  pages.editable = false;
  pages.canRetake = false;
  if (pages.current) pages.show(pages.current);
}

// -- register entry and selection on the review screen --------------------------------
function isoToShown(iso) { return iso ? iso.split("-").reverse().join("/") : ""; }
function initRegisterBox(form, docId) {
  const box = $("#regbox");
  if (!box) return;
  let timer = 0;
  async function lookup() {
    const fd = new FormData(form);
    const q = new URLSearchParams({
      number: fd.get("number") || "", date: fd.get("date") || "",
      doc_type: fd.get("doc_type") || "", title: fd.get("title") || "",
    });
    let info;
    try { info = await api("GET", `/documents/${docId}/register?${q}`); } catch (e) { return; }
    const warn = $("#sel-warning");
    warn.hidden = info.selection.inside !== false;
    warn.textContent = info.selection.message || "";
    const list = $("#reg-candidates");
    list.replaceChildren();
    const chosen = (info.linked || info.chosen || {}).id;
    const cands = info.candidates.slice();
    const known = info.linked || info.chosen;
    if (known && !cands.some((c) => c.entry.id === known.id)) cands.unshift({ entry: known, score: 1, exact: true });
    $("#reg-title").hidden = cands.length === 0;
    for (const c of cands) {
      const e = c.entry;
      const b = document.createElement("button");
      b.type = "button";
      b.className = "btn";
      b.dataset.entry = e.id;
      b.setAttribute("aria-pressed", String(e.id === chosen));
      b.textContent = `${e.register}: ${e.number_symbol || "—"} · ${isoToShown(e.date)} · ${e.subject || ""}`.slice(0, 120);
      b.addEventListener("click", async () => {
        try {
          await api("PUT", `/documents/${docId}/register-entry`, { entry_id: e.id });
          if (form.fillFromEntry) form.fillFromEntry(e);
          toast(T("The register entry filled the form."), "ok");
          lookup();
        } catch (ex) { fail(ex); }
      });
      list.appendChild(b);
    }
    if (cands.length) {
      const none = document.createElement("button");
      none.type = "button";
      none.className = "btn none";
      none.id = "reg-none";
      none.textContent = box.dataset.none;
      none.setAttribute("aria-pressed", String(!!info.none_chosen));
      none.addEventListener("click", async () => {
        try { await api("PUT", `/documents/${docId}/register-entry`, { entry_id: null }); lookup(); } catch (ex) { fail(ex); }
      });
      list.appendChild(none);
    }
    box.hidden = warn.hidden && cands.length === 0;
  }
  const later = () => { clearTimeout(timer); timer = setTimeout(lookup, 400); };
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  form.addEventListener("sohoa:filled", later);
  lookup();
}
