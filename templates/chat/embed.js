// Brevduva chat for a municipality's website: one <script src=".../chat/embed.js" defer></script>.
// Adds a button that opens the chat in a frame served by Brevduva. No cookies; nothing
// is loaded from anywhere but the Brevduva server. Optional attributes on the script tag:
// data-lang="sv|en|uk|ar", data-label="button text".
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var origin = new URL(script.src).origin;
  var lang = (script.getAttribute("data-lang") || document.documentElement.lang || "").slice(0, 2);
  var labels = { sv: "Chatta med kommunen", en: "Chat with the municipality", uk: "Чат з муніципалітетом", ar: "الدردشة مع البلدية" };
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = script.getAttribute("data-label") || labels[lang] || labels.sv;
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "brevduva-chat");
  var s = button.style;
  s.position = "fixed"; s.bottom = "1rem"; s.right = "1rem"; s.zIndex = "2147483000";
  s.padding = ".7rem 1.1rem"; s.borderRadius = "2rem"; s.border = "0"; s.font = "inherit";
  s.background = "#0b4f8a"; s.color = "#fff"; s.cursor = "pointer"; s.boxShadow = "0 2px 8px rgba(0,0,0,.3)";
  var frame = null;
  button.addEventListener("click", function () {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = "brevduva-chat";
      frame.title = button.textContent;
      frame.src = origin + "/chat?embed=1" + (labels[lang] ? "&lang=" + lang : "");
      var f = frame.style;
      f.position = "fixed"; f.bottom = "4.5rem"; f.right = "1rem"; f.zIndex = "2147483000";
      f.width = "min(26rem, calc(100vw - 2rem))"; f.height = "min(40rem, calc(100vh - 6rem))";
      f.border = "1px solid #888"; f.borderRadius = ".75rem"; f.background = "#fff";
      document.body.appendChild(frame);
      button.setAttribute("aria-expanded", "true");
      return;
    }
    var open = frame.style.display === "none";
    frame.style.display = open ? "block" : "none";
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });
  document.body.appendChild(button);
})();
