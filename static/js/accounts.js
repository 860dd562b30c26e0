// Developer-account pages: copy-to-clipboard buttons. Loaded with <script src> (the CSP forbids
// inline scripts and handlers). A button with data-copy-target="ID" copies that element's text.
(function () {
  "use strict";

  function textOf(el) {
    return "value" in el && typeof el.value === "string" ? el.value : el.textContent;
  }

  function fallbackCopy(el, text) {
    // Older browsers or plain-HTTP origins without navigator.clipboard: select and copy.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    if (!ok && typeof el.select === "function") { el.focus(); el.select(); }
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function report(button, ok) {
    const status = button.parentElement && button.parentElement.querySelector(".copy-status");
    if (!status) return;
    status.classList.toggle("copy-failed", !ok);
    status.textContent = ok ? "Copied." : "Could not copy: the text is selected, press Ctrl+C.";
    window.clearTimeout(status._odTimer);
    status._odTimer = window.setTimeout(function () { status.textContent = ""; }, 4000);
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy-target]");
    if (!button) return;
    const el = document.getElementById(button.dataset.copyTarget);
    if (!el) return;
    const text = textOf(el);
    const copy = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(el, text); })
      : fallbackCopy(el, text);
    copy.then(function () { report(button, true); }, function () { report(button, false); });
  });
})();
