/* Home actions that may appear on several screens: resume or discard a parked document. */
import { api, fail, toast } from "./api.js";
import { $, $$ } from "./config.js";

// -- resume a parked document --------------------------------------------------------
$$("[data-resume]").forEach((b) => b.addEventListener("click", async (e) => {
  e.preventDefault();
  try { await api("POST", `/documents/${b.dataset.resume}/resume`); location.href = "/scan"; } catch (err) { fail(err); }
}));
/* Pages captured by mistake need not stay under "Việc đang dở" for ever (issue 16):
 * the whole unsealed document is discarded after a confirmation; the kiosk audits the
 * discard and what it removed. */
$$("[data-discard]").forEach((b) => b.addEventListener("click", async (e) => {
  e.preventDefault();
  if (!window.confirm(b.dataset.confirm)) return;
  b.disabled = true;
  try {
    await api("POST", `/documents/${b.dataset.discard}/discard`, { reason: "" });
    const li = b.closest("li"), list = li.parentElement;
    li.remove();
    if (!list.children.length) location.reload();  // the group is empty: redraw the panel
  } catch (err) { b.disabled = false; fail(err); }
}));
const exportTile = $("#go-export[data-message]");
if (exportTile) exportTile.addEventListener("click", () => toast(exportTile.dataset.message, "", 7000));
