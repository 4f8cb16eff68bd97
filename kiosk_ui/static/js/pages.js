/* Pages of a document: the thumbnail strip, the viewer, reorder and page edits. */
import { api, fail, toast } from "./api.js";
import { $, $$ } from "./config.js";
import { armOnOwnTouch } from "./dialog.js";
import { T } from "./i18n.js";

// -- pages: thumbnails, viewer, reorder --------------------------------------------------
/* "!" only for a page that still needs the clerk: a flagged page the clerk chose to
 * keep is kept ("✓"), as is a page that passed the quality gates. The scan and review
 * templates write the same badge for the first paint. */
function badgeMark(p) {
  if (p.kept) return "✓";
  return p.state === "rejected" || p.ok === false ? "!" : "✓";
}

function thumbHtml(p) {
  const li = document.createElement("li");
  li.className = "thumb";
  li.dataset.page = p.id;
  li.dataset.state = p.state;
  li.dataset.ok = p.ok ? "yes" : "no";
  li.dataset.version = p.version;
  li.dataset.kept = p.kept ? "yes" : "";
  const img = document.createElement("img");
  img.alt = T("Page") + " " + p.seq;
  img.addEventListener("load", () => {  // when each page first appeared (latency bench)
    const seen = (window.sohoaThumbShown ||= {});
    seen[p.id] ??= performance.timeOrigin + performance.now();
  }, { once: true });
  img.src = p.thumb_url;
  const seq = document.createElement("span");
  seq.className = "seq";
  seq.textContent = p.seq;
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.setAttribute("aria-hidden", "true");
  badge.textContent = badgeMark(p);
  li.append(img, seq, badge);
  return li;
}

export class Pages {
  constructor(list, docId, { editable = true, onChange = () => {} } = {}) {
    this.list = list; this.docId = docId; this.pages = []; this.editable = editable; this.onChange = onChange;
    this.viewer = $("#viewer");
    if (list) this.bindDrag();
    if (this.viewer) this.bindViewer();
  }
  async refresh() {
    if (!this.docId) return;
    const doc = await api("GET", `/documents/${this.docId}`);
    this.render(doc.pages);
    this.onChange(doc);
    return doc;
  }
  render(pages) {
    this.pages = pages;
    const shown = $$(".thumb", this.list);
    const old = new Map(shown.map((li) => [li.dataset.page, li]));
    const lis = [];
    pages.forEach((p) => {
      let li = old.get(p.id);
      if (!li || li.dataset.version !== p.version) {
        const fresh = !li;
        li = thumbHtml(p);
        if (fresh) li.classList.add("fresh");
      } else if (li.dataset.state !== p.state || li.dataset.ok !== (p.ok ? "yes" : "no")) {
        // Same picture, new state (OCR went on): update the badge, keep the image.
        li.dataset.state = p.state;
        li.dataset.ok = p.ok ? "yes" : "no";
        li.dataset.kept = p.kept ? "yes" : "";
        li.querySelector(".badge").textContent = badgeMark(p);
      }
      lis.push(li);
    });
    // Touch only what changed: moving every thumbnail out and back in (as OCR progress
    // re-renders the list) ends a tap under way, and the clerk's tap on a page was lost
    // while later pages were being read. Same pages in the same order: swap the changed
    // ones in place; otherwise lay the list out again.
    const now = Array.from(this.list.children);
    const sameOrder = now.length === lis.length && lis.every((li, i) => now[i].dataset.page === li.dataset.page);
    if (sameOrder) lis.forEach((li, i) => { if (now[i] !== li) now[i].replaceWith(li); });
    else this.list.replaceChildren(...lis);
    if (this.viewer && !this.viewer.hidden && this.current) {
      const p = pages.find((x) => x.id === this.current.id);
      if (p) this.show(p); else this.close();
    }
  }
  /* Show a just-captured page at once from its event (before the list is re-read),
   * so the clerk sees the thumbnail one round trip sooner. */
  showNew(ev) {
    if ($(`.thumb[data-page="${ev.page_id}"]`, this.list)) return;
    const ok = Boolean(ev.quality && ev.quality.ok);
    // The event's URL (the server spells it); the list's refresh brings the page's own.
    const li = thumbHtml({ id: ev.page_id, seq: ev.seq, state: ev.state, ok, version: "new", thumb_url: ev.thumb_url });
    li.classList.add("fresh");
    this.list.append(li);
    li.scrollIntoView({ block: "nearest" });  // the newest page is always in sight
  }
  order() { return this.pages.map((p) => p.id); }
  async move(id, to) {
    const ids = this.order().filter((x) => x !== id);
    ids.splice(Math.max(0, Math.min(to, ids.length)), 0, id);
    const pages = await api("PUT", `/documents/${this.docId}/order`, { order: ids });
    this.render(pages);
  }
  bindDrag() {
    let drag = null;
    this.list.addEventListener("pointerdown", (e) => {
      const li = e.target.closest(".thumb");
      if (!li) return;
      drag = { li, x: e.clientX, y: e.clientY, moving: false, id: li.dataset.page };
      li.setPointerCapture(e.pointerId);
    });
    this.list.addEventListener("pointermove", (e) => {
      if (!drag) return;
      if (!drag.moving && this.editable && Math.hypot(e.clientX - drag.x, e.clientY - drag.y) > 14) {
        drag.moving = true;
        drag.li.classList.add("dragging");
      }
      if (!drag.moving) return;
      $$(".drop-before", this.list).forEach((x) => x.classList.remove("drop-before"));
      const over = document.elementFromPoint(e.clientX, e.clientY);
      const target = over && over.closest(".thumb");
      if (target && target !== drag.li) target.classList.add("drop-before");
    });
    const end = async (e) => {
      if (!drag) return;
      const d = drag;
      drag = null;
      d.li.classList.remove("dragging");
      const target = $(".drop-before", this.list);
      $$(".drop-before", this.list).forEach((x) => x.classList.remove("drop-before"));
      if (!d.moving) return;  // a tap: the click that follows opens the page
      this.dragged = true;  // the click after a drag is not a tap
      let to;
      if (target) {
        to = this.order().filter((x) => x !== d.id).indexOf(target.dataset.page);
      } else {
        to = this.pages.length;  // dropped past the last page
      }
      await this.move(d.id, to).catch(fail);
    };
    this.list.addEventListener("pointerup", end);
    this.list.addEventListener("pointercancel", end);
    this.list.addEventListener("click", (e) => this.tapped(e));
  }
  /* A thumbnail opens on the tap's click, the last event of the tap, never on finger-up:
   * a viewer opened earlier is under the finger when the click arrives, and the click
   * landed on its buttons (rotated, kept or reordered pages, issue 16). */
  tapped(e) {
    const li = e.target.closest(".thumb");
    if (this.dragged) { this.dragged = false; return; }
    if (li) this.open(li.dataset.page).catch(fail);
  }
  async open(id) {
    let p = this.pages.find((x) => x.id === id);
    if (!p) {  // a page shown from its event, tapped before the list was re-read
      await this.refresh();
      p = this.pages.find((x) => x.id === id);
    }
    if (p) this.show(p);
  }
  show(p) {
    this.current = p;
    const v = this.viewer;
    $("#viewer-img").src = p.preview_url;
    $("#viewer-img").alt = T("Page") + " " + p.seq;
    $("#viewer-title").textContent = `${T("Page")} ${p.seq} / ${this.pages.length}`;
    const issues = $("#viewer-issues");
    issues.replaceChildren();
    if (p.issues.length === 0 && p.ok) {
      const li = document.createElement("li"); li.className = "ok"; li.textContent = "✓ " + T("OK"); issues.append(li);
    }
    p.issues.filter((i) => i.severity === "error").forEach((i) => {
      const li = document.createElement("li"); li.textContent = i.message; issues.append(li);
    });
    if (["queued", "processing"].includes(p.state)) {
      const li = document.createElement("li"); li.className = "ok"; li.textContent = T("Processing..."); issues.append(li);
    }
    const idx = this.pages.indexOf(p);
    const act = (name) => $(`[data-act="${name}"]`, v);
    act("accept").hidden = !(this.editable && p.state === "rejected");
    ["retake", "delete", "rotate", "earlier", "later"].forEach((n) => { act(n).hidden = !this.editable; });
    act("retake").hidden = !this.editable || !this.canRetake;
    act("earlier").disabled = idx <= 0;
    act("later").disabled = idx >= this.pages.length - 1;
    v.hidden = false;
  }
  close() { this.viewer.hidden = true; this.current = null; }
  bindViewer() {
    armOnOwnTouch(this.viewer);
    this.viewer.addEventListener("click", async (e) => {
      if (!this.viewer.armed) return;  // the tail of the tap that opened the viewer
      if (e.target === this.viewer) { this.close(); return; }
      const b = e.target.closest("[data-act]");
      if (!b || !this.current) return;
      const p = this.current;
      const idx = this.pages.indexOf(p);
      try {
        switch (b.dataset.act) {
          case "close": this.close(); return;
          case "retake":
            this.close();
            toast(T("Capturing..."));
            await api("POST", `/pages/${p.id}/retake`);
            break;
          case "rotate": await api("POST", `/pages/${p.id}/rotate`, { quarter_turns: 1 }); break;
          case "accept": await api("POST", `/pages/${p.id}/accept`); break;
          case "delete":
            if (!window.confirm(T("Delete this page?"))) return;
            await api("DELETE", `/pages/${p.id}`);
            this.close();
            break;
          case "earlier": await this.move(p.id, idx - 1); return;
          case "later": await this.move(p.id, idx + 1); return;
        }
        await this.refresh();
      } catch (err) { fail(err); }
    });
  }
}
