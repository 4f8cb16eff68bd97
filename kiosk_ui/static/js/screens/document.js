/* Document screen: pages and reclassification. */
import { api } from "../api.js";
import { $ } from "../config.js";
import { hideKeyboard } from "../keyboard.js";
import { Pages } from "../pages.js";

export function initDocument() {
  const root = $("#document");
  const docId = root.dataset.doc;
  const pages = new Pages($("#thumbs"), docId, { editable: false });
  pages.refresh().catch(() => {});
  const form = $("#reclassify");
  if (!form) return;
  const result = $("#classify-result");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    hideKeyboard();
    const fd = new FormData(form);
    const btn = $("#classify-save");
    btn.disabled = true;
    try {
      const out = await api("POST", `/documents/${docId}/classification`, {
        confidentiality: fd.get("confidentiality"), reason: fd.get("reason") || "",
      });
      result.className = "notice " + (out.incident ? "err" : "ok");
      result.textContent = out.message;
      if (out.document) {
        $("#doc-state").textContent = out.document.state_label;
        $("#doc-state").className = "chip " + out.document.tone;
      }
      const where = $("#doc-destination");
      if (where && out.destination) where.textContent = out.destination.message;
    } catch (ex) {
      result.className = "notice err";
      result.textContent = ex.message;
    } finally {
      result.hidden = false;
      btn.disabled = false;
    }
  });
}
