/* Sign-in screen: the code and PIN keypad. */
import { api } from "../api.js";
import { $, CFG } from "../config.js";

// -- sign-in keypad ------------------------------------------------------------------
export function initSignin() {
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
