/* The on-screen Vietnamese keyboard (tones placed on the right vowel). */
import { $, $$ } from "./config.js";

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
  osk.classList.toggle("digits", input.dataset.osk === "digits");
  osk.hidden = false;
  document.body.classList.add("osk-open");
  setTimeout(() => input.scrollIntoView({ block: "center" }), 0);
}
export function hideKeyboard() {
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
