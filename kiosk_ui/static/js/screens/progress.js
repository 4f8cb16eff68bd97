/* Progress screen: register import and custody returns. */
import { api, fail } from "../api.js";
import { $, $$, CFG } from "../config.js";

// -- progress screen: register import -------------------------------------------------
export function initProgress() {
  const root = $("#import");
  if (!root) return;
  let direction = "in";
  $$(".btn.dir", root).forEach((b) => b.addEventListener("click", () => {
    direction = b.dataset.direction;
    $$(".btn.dir", root).forEach((o) => o.setAttribute("aria-pressed", String(o === b)));
  }));
  const files = $("#import-files");
  async function listFiles() {
    let found = [];
    try { found = await api("GET", "/register/sources"); } catch (e) { fail(e); return; }
    files.replaceChildren();
    if (!found.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = root.dataset.none;
      files.appendChild(li);
    }
    for (const f of found) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "btn";
      b.dataset.source = f.id;
      b.textContent = (f.where === "usb" ? "USB " + f.label + ": " : "") + f.name;
      const size = document.createElement("small");
      size.textContent = Math.max(1, Math.round(f.size / 1024)) + " KB";
      b.appendChild(size);
      b.addEventListener("click", () => previewImport(root, f.id, direction, start));
      li.appendChild(b);
      files.appendChild(li);
    }
  }
  async function start(source, sha256) {
    let job;
    try { job = await api("POST", "/register/import", { source, direction, sha256 }); } catch (e) { fail(e); return; }
    $("#import-status").hidden = false;
    $("#import-rejected").replaceChildren();
    $("#import-done").hidden = true;
    $$("button", files).forEach((b) => { b.disabled = true; });
    const bar = $("#import-bar");
    const phase = $("#import-phase");
    for (;;) {
      if (job.state === "running") {
        phase.className = "notice work";
        phase.textContent = root.dataset[job.phase === "write" ? "writing" : job.phase === "read" ? "reading" : "copy"];
        if (job.total) { bar.max = job.total; bar.value = job.done; }
        await new Promise((r) => setTimeout(r, 400));
        try { job = await api("GET", `/register/import/${job.id}`); } catch (e) { fail(e); return; }
        continue;
      }
      break;
    }
    bar.max = 1; bar.value = job.state === "done" ? 1 : 0;
    phase.className = "notice " + (job.state === "done" ? (job.rejected && job.rejected.length ? "warn" : "ok") : "err");
    phase.textContent = job.message || "";
    for (const r of job.rejected || []) {
      const li = document.createElement("li");
      li.textContent = `${r.line}: ${r.reason}`;
      $("#import-rejected").appendChild(li);
    }
    $$("button", files).forEach((b) => { b.disabled = false; });
    $("#import-done").hidden = job.state !== "done";
  }
  $("#import-refresh").addEventListener("click", listFiles);
  $("#import-done").addEventListener("click", () => location.reload());
  listFiles();
  listImports(root);
}

/* One tap on a file shows what the import would do (register, rows, period) and whether
 * the same file was imported before; only "Import" imports (issue 16: a tap imported at
 * once, and the same file twice doubled the register). */
async function previewImport(root, source, direction, start) {
  const box = $("#import-preview");
  let pv;
  try { pv = await api("POST", "/register/import/preview", { source, direction }); } catch (e) { fail(e); return; }
  $("#pv-register").textContent = pv.register;
  $("#pv-rows").textContent = pv.rows;
  $("#pv-period").textContent = pv.period;
  $("#pv-message").textContent = pv.message;
  $("#pv-previous").hidden = !pv.previous;
  $("#pv-previous").textContent = pv.previous_message || "";
  const ok = $("#import-confirm");
  ok.hidden = Boolean(pv.previous) || pv.imported === 0;
  ok.onclick = () => { box.hidden = true; start(source, pv.sha256).then(() => listImports(root)); };
  $("#import-cancel").onclick = () => { box.hidden = true; };
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

/* The imports made, each with "Undo" (audited on the server) until it is undone. */
async function listImports(root) {
  const list = $("#import-history");
  if (!list) return;
  let found = [];
  try { found = await api("GET", "/register/imports"); } catch (e) { return; }
  list.replaceChildren();
  for (const imp of found) {
    const li = document.createElement("li");
    li.dataset.seq = imp.seq;
    const text = document.createElement("span");
    const at = new Date(imp.at).toLocaleString(CFG.lang === "vi" ? "vi-VN" : "en-GB");
    text.textContent = `${imp.register} · ${imp.file} · ${imp.imported} · ${at}`;
    li.appendChild(text);
    if (imp.undone) {
      const chip = document.createElement("small");
      chip.textContent = list.dataset.undone;
      li.appendChild(chip);
    } else if (imp.undoable) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "btn danger";
      b.dataset.undo = imp.seq;
      b.textContent = list.dataset.undo;
      b.addEventListener("click", async () => {
        if (!window.confirm(list.dataset.confirm)) return;
        try { await api("POST", `/register/imports/${imp.seq}/undo`); location.reload(); } catch (e) { fail(e); }
      });
      li.appendChild(b);
    }
    list.appendChild(li);
  }
}

/* "Original returned" beside an original that is out (archivists; audited). */
export function bindCustodyReturn() {
  $$("#custody [data-return]").forEach((b) => b.addEventListener("click", async () => {
    try { await api("POST", `/custody/${b.dataset.return}/return`); location.reload(); } catch (e) { fail(e); }
  }));
}
