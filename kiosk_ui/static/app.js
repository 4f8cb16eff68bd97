/* Sohoa kiosk touchscreen: one small build-free script for every screen.
 * The server renders each screen; this adds the keypad, the on-screen Vietnamese keyboard,
 * live events (server-sent), the live camera view, idle sign-out and the API calls. */
"use strict";
(() => {
  const CFG = JSON.parse(document.getElementById("config").textContent);
  const T = (s) => CFG.messages[s] || s;
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const screen = document.body.dataset.screen;

  // -- API -----------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  async function api(method, path, body) {
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
  function toast(msg, kind = "", ms = 4000) {
    const el = $("#toast");
    el.textContent = msg;
    el.className = "toast " + kind;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, ms);
  }
  const fail = (e) => toast(e.message || String(e), "err", 6000);

  // -- language ------------------------------------------------------------------------
  const langBtn = $("#lang-switch");
  if (langBtn) {
    langBtn.addEventListener("click", async () => {
      await api("PUT", "/session/language", { lang: langBtn.dataset.lang }).catch(fail);
      location.reload();
    });
  }
  $$("[data-setlang]").forEach((b) => b.addEventListener("click", async () => {
    await api("PUT", "/session/language", { lang: b.dataset.setlang }).catch(fail);
    location.reload();
  }));

  // -- status bar ----------------------------------------------------------------------
  function gb(n) { return (n / 1073741824).toFixed(n > 1e10 ? 0 : 1) + " GB"; }
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
    } catch (e) { /* the next tick retries */ }
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
  function setUsb(usb) {
    const li = document.getElementById("st-usb");
    if (!li || !usb) return;
    li.dataset.state = usb.state;
    li.querySelector("b").textContent = USB_MARK[usb.state] || "—";
    li.title = T(USB_TEXT[usb.state] || "No USB stick") + (usb.label ? " · " + usb.label : "");
  }
  if (CFG.signedIn) {
    clock();
    setInterval(clock, 10000);
    refreshStatus();
    setInterval(refreshStatus, CFG.statusInterval);
  }

  // -- sign out and idle ---------------------------------------------------------------
  async function signOut(reason) {
    await api("POST", "/session/logout", { reason }).catch(() => {});
    location.href = reason === "idle" ? "/signin?reason=idle" : "/signin";
  }
  const signoutBtn = $("#signout");
  if (signoutBtn) signoutBtn.addEventListener("click", () => signOut("signout"));

  const idle = { last: Date.now(), touched: Date.now(), warned: false };
  function activity() {
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

  // -- server-sent events ----------------------------------------------------------------
  const listeners = [];
  function onEvent(fn) { listeners.push(fn); }
  if (CFG.signedIn) {
    const es = new EventSource("/api/v1/events");
    es.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      if (ev.kind === "page") activity();  // the pedal counts as someone working
      if (ev.kind === "error" && ev.code) toast(CFG.lang === "vi" ? ev.message_vi : ev.message_en, "err", 6000);
      if (ev.kind === "usb") setUsb(ev);
      listeners.forEach((fn) => fn(ev));
    };
  }

  // -- sign-in keypad ------------------------------------------------------------------
  function initSignin() {
    const words = JSON.parse($("#signin-words").textContent);
    const st = { step: "code", code: "", pin: "" };
    const next = $("#signin-next");
    const err = $("#signin-error");
    function render() {
      $("#code-value").textContent = st.code;
      $("#pin-value").textContent = "•".repeat(st.pin.length);
      $("#f-code").dataset.active = st.step === "code" ? "1" : "";
      $("#f-pin").dataset.active = st.step === "pin" ? "1" : "";
      next.textContent = st.step === "code" ? words.next : words.signin;
      $("#signin-hint").textContent = st.step === "code" ? words.hintCode : words.hintPin;
    }
    async function submit() {
      if (st.step === "code") { if (st.code) st.step = "pin"; render(); return; }
      if (!st.pin) return;
      next.disabled = true;
      try {
        await api("POST", "/session/login", { code: st.code, pin: st.pin, lang: CFG.lang });
        location.href = "/";
      } catch (e) {
        err.textContent = e.message;
        err.hidden = false;
        st.pin = "";
        if (e.code === "locked_out") { st.code = ""; st.step = "code"; }
        render();
      } finally { next.disabled = false; }
    }
    $("#keypad").addEventListener("click", (e) => {
      const k = e.target.closest("[data-key]");
      if (!k) return;
      const key = k.dataset.key;
      const field = st.step;
      if (key === "ok") { submit(); return; }
      if (key === "del") st[field] = st[field].slice(0, -1);
      else if (key === "clear") { st[field] = ""; if (field === "pin") { st.step = "code"; } }
      else if (st[field].length < 12) st[field] += key;
      render();
    });
    $("#f-code").addEventListener("click", () => { st.step = "code"; st.pin = ""; render(); });
    document.addEventListener("keydown", (e) => {
      if (/^[0-9]$/.test(e.key) && st[st.step].length < 12) st[st.step] += e.key;
      else if (e.key === "Backspace") st[st.step] = st[st.step].slice(0, -1);
      else if (e.key === "Enter") { submit(); return; }
      else return;
      render();
    });
    render();
  }

  // -- resume a parked document --------------------------------------------------------
  $$("[data-resume]").forEach((b) => b.addEventListener("click", async (e) => {
    e.preventDefault();
    try { await api("POST", `/documents/${b.dataset.resume}/resume`); location.href = "/scan"; } catch (err) { fail(err); }
  }));
  const exportTile = $("#go-export[data-message]");
  if (exportTile) exportTile.addEventListener("click", () => toast(exportTile.dataset.message, "", 7000));

  // -- pages: thumbnails, viewer, reorder --------------------------------------------------
  function thumbHtml(p) {
    const li = document.createElement("li");
    li.className = "thumb";
    li.dataset.page = p.id;
    li.dataset.state = p.state;
    li.dataset.ok = p.ok ? "yes" : "no";
    li.dataset.version = p.version;
    const img = document.createElement("img");
    img.alt = T("Page") + " " + p.seq;
    img.addEventListener("load", () => {  // when each page first appeared (latency bench)
      const seen = (window.sohoaThumbShown ||= {});
      seen[p.id] ??= performance.timeOrigin + performance.now();
    }, { once: true });
    img.src = `/api/v1/pages/${p.id}/thumb.jpg?v=${encodeURIComponent(p.version)}`;
    const seq = document.createElement("span");
    seq.className = "seq";
    seq.textContent = p.seq;
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.setAttribute("aria-hidden", "true");
    badge.textContent = p.state === "rejected" || p.ok === false ? "!" : "✓";
    li.append(img, seq, badge);
    return li;
  }

  class Pages {
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
      const old = new Map($$(".thumb", this.list).map((li) => [li.dataset.page, li]));
      const frag = document.createDocumentFragment();
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
          li.querySelector(".badge").textContent = p.state === "rejected" || p.ok === false ? "!" : "✓";
        }
        frag.append(li);
      });
      this.list.replaceChildren(frag);
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
      const li = thumbHtml({ id: ev.page_id, seq: ev.seq, state: ev.state, ok, version: "new" });
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
        if (!d.moving) {
          if (e.type === "pointerup") this.open(d.id);
          return;
        }
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
    }
    open(id) {
      const p = this.pages.find((x) => x.id === id);
      if (p) this.show(p);
    }
    show(p) {
      this.current = p;
      const v = this.viewer;
      $("#viewer-img").src = `/api/v1/pages/${p.id}/preview.jpg?v=${encodeURIComponent(p.version)}`;
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
      this.viewer.addEventListener("click", async (e) => {
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

  // -- scan screen ---------------------------------------------------------------------
  function initScan() {
    const root = $("#scan");
    const state = $("#live-state");
    const finishBtn = $("#finish");
    const captureBtn = $("#capture");
    const pages = new Pages($("#thumbs"), root.dataset.doc || null, {
      onChange: (doc) => {
        $("#page-count").textContent = doc.pages.length;
        finishBtn.disabled = doc.pages.length === 0;
        $("#thumbs-hint").hidden = doc.pages.length > 0;
      },
    });
    pages.canRetake = true;
    if (pages.docId) pages.refresh().catch(() => {});
    let finishing = false;

    onEvent((ev) => {
      if (ev.kind === "backlog") $("#backlog").textContent = ev.backlog;
      if (ev.kind === "page" && ev.doc_id) {
        if (!pages.docId) pages.docId = ev.doc_id;
        if (ev.doc_id === pages.docId && ev.preview && ev.seq) pages.showNew(ev);
        if (ev.doc_id === pages.docId) pages.refresh().catch(() => {});
      }
      if (ev.kind === "sheet") showSheet(ev);
      if (ev.kind === "document" && ev.doc_id === pages.docId && !finishing &&
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

    // live view: poll the detection, then show that frame's JPEG with the outline over it
    const img = $("#live-img");
    const live = $("#live");
    if (!img) return;
    const poly = $("#live-quad");
    const reasons = {
      no_page: T("No page found"), cut_off: T("Page is cut off: reposition the document"),
      too_dark: T("Too dark"), camera: T("Not connected"),
    };
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
          : (reasons[f.reason] || f.reason);
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

  // -- review screen -------------------------------------------------------------------
  function initReview() {
    const root = $("#review");
    const docId = root.dataset.doc;
    const save = $("#save");
    const pages = new Pages($("#thumbs"), docId, {
      onChange: (doc) => {
        $("#processing").hidden = !["processing", "sealing"].includes(doc.state);
        $("#failed").hidden = doc.state !== "failed";
        $("#failed").textContent = doc.state_label;
        if (save) save.disabled = doc.state !== "review";
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
    if (!form) return;
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
        date: fd.get("date") || "", confidentiality: fd.get("confidentiality") || "thuong",
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
        toast(T("Saved"), "ok");
      } catch (ex) {
        showErr(ex.message);
        save.disabled = false;
      } finally {
        if (!form.hidden) save.textContent = save.dataset.label;
      }
    });
    save.dataset.label = save.textContent;
    initRegisterBox(form, docId);
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
          try { await api("PUT", `/documents/${docId}/register-entry`, { entry_id: e.id }); lookup(); } catch (ex) { fail(ex); }
        });
        list.appendChild(b);
      }
      if (chosen) {
        const none = document.createElement("button");
        none.type = "button";
        none.className = "btn";
        none.textContent = box.dataset.none;
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
    lookup();
  }

  // -- progress screen: register import -------------------------------------------------
  function initProgress() {
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
        b.addEventListener("click", () => start(f.id));
        li.appendChild(b);
        files.appendChild(li);
      }
    }
    async function start(source) {
      let job;
      try { job = await api("POST", "/register/import", { source, direction }); } catch (e) { fail(e); return; }
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
  }

  function initDocument() {
    const root = $("#document");
    const pages = new Pages($("#thumbs"), root.dataset.doc, { editable: false });
    pages.refresh().catch(() => {});
  }

  // -- on-screen Vietnamese keyboard ---------------------------------------------------
  const TONES = { acute: "\u0301", grave: "\u0300", hook: "\u0309", tilde: "\u0303", dot: "\u0323" };
  const TONE_RE = /[\u0300\u0301\u0303\u0309\u0323]/g;
  const VOWELS = "aăâeêioôơuưy";
  const MARKED = "ăâêôơư";
  const bare = (ch) => ch.normalize("NFD").replace(TONE_RE, "").normalize("NFC");
  /* Put a tone on the right vowel of the word before the caret (the usual Vietnamese
   * rules: the vowel with a hat/horn/breve wins; else the last vowel of a closed syllable;
   * else the first of two, the middle of three). Pressing the same tone again removes it. */
  function toneWord(word, tone) {
    const chars = Array.from(word);
    const base = chars.map((c) => bare(c).toLowerCase());
    let idx = base.map((c, i) => (VOWELS.includes(c) ? i : -1)).filter((i) => i >= 0);
    if (idx.length > 1 && base[0] === "q" && base[1] === "u") idx = idx.filter((i) => i !== 1);
    if (idx.length > 1 && base[0] === "g" && base[1] === "i") idx = idx.filter((i) => i !== 1);
    if (!idx.length) return null;
    let cluster = [idx[idx.length - 1]];
    for (let k = idx.length - 2; k >= 0 && idx[k] === cluster[0] - 1; k--) cluster.unshift(idx[k]);
    let pick;
    const marked = cluster.filter((i) => MARKED.includes(base[i]));
    if (marked.length) pick = marked[marked.length - 1];
    else if (cluster.length === 1) pick = cluster[0];
    else if (cluster[cluster.length - 1] < base.length - 1) pick = cluster[cluster.length - 1];
    else pick = cluster.length === 2 ? cluster[0] : cluster[1];
    const had = chars[pick].normalize("NFD").includes(TONES[tone]);
    cluster.forEach((i) => { chars[i] = bare(chars[i]); });
    if (!had) chars[pick] = (chars[pick] + TONES[tone]).normalize("NFC");
    return chars.join("");
  }
  const osk = $("#osk");
  let oskTarget = null;
  let shift = false;
  function showKeyboard(input) {
    if (!osk) return;
    oskTarget = input;
    osk.hidden = false;
    document.body.classList.add("osk-open");
    setTimeout(() => input.scrollIntoView({ block: "center" }), 0);
  }
  function hideKeyboard() {
    if (!osk) return;
    osk.hidden = true;
    document.body.classList.remove("osk-open");
    if (oskTarget) oskTarget.blur();
    oskTarget = null;
  }
  function insert(text) {
    const el = oskTarget;
    const start = el.selectionStart ?? el.value.length;
    const end = el.selectionEnd ?? el.value.length;
    const max = el.maxLength > 0 ? el.maxLength : 1e6;
    if (el.value.length - (end - start) + text.length > max) return;
    el.setRangeText(text, start, end, "end");
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }
  function applyTone(tone) {
    const el = oskTarget;
    const pos = el.selectionStart ?? el.value.length;
    const before = el.value.slice(0, pos);
    const m = before.match(/[\p{L}]+$/u);
    if (!m) return;
    const word = toneWord(m[0], tone);
    if (word === null) return;
    el.setRangeText(word, pos - m[0].length, pos, "end");
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }
  if (osk) {
    $$("[data-osk]").forEach((input) => {
      input.addEventListener("focus", () => showKeyboard(input));
      input.addEventListener("click", () => showKeyboard(input));
    });
    osk.addEventListener("pointerdown", (e) => e.preventDefault());  // keep the caret in the field
    osk.addEventListener("click", (e) => {
      const b = e.target.closest("button");
      if (!b || !oskTarget) return;
      if (b.dataset.tone) { applyTone(b.dataset.tone); return; }
      const k = b.dataset.k;
      if (k === "done") {
        const form = oskTarget.form;
        hideKeyboard();
        if (form && form.getAttribute("role") === "search") form.submit();
        return;
      }
      if (k === "⌫") {
        const el = oskTarget;
        const s = el.selectionStart ?? el.value.length;
        const e2 = el.selectionEnd ?? s;
        if (s !== e2) el.setRangeText("", s, e2, "end");
        else if (s > 0) {
          const chars = Array.from(el.value.slice(0, s));
          const last = chars.pop() || "";
          el.setRangeText("", s - last.length, s, "end");
        }
        el.dispatchEvent(new Event("input", { bubbles: true }));
        return;
      }
      if (k === "⇧") { shift = !shift; b.setAttribute("aria-pressed", String(shift)); return; }
      insert(shift ? k.toUpperCase() : k);
      if (shift) { shift = false; $("[data-k='⇧']", osk).setAttribute("aria-pressed", "false"); }
    });
  }
  window.sohoaToneWord = toneWord;  // exposed for the keyboard tests

  // -- export screen -------------------------------------------------------------------
  function initExport() {
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
      if (ev.kind === "usb") {
        if (ev.action === "remove" && job && !running()) { location.reload(); return; }
        if (ev.action === "export") { refreshJob(); return; }
        refreshPreflight();
      }
      if (ev.kind !== "export" || !job) return;
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

  const inits = {
    signin: initSignin, scan: initScan, review: initReview, document: initDocument, export: initExport,
    progress: initProgress,
  };
  if (inits[screen]) inits[screen]();
})();
