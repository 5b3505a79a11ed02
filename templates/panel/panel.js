// Comfort only: every action works without JavaScript.
// "Use this suggestion" copies a suggested reply into the reply field.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-suggestion]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-suggestion"));
  var target = document.getElementById("reply-body");
  if (!source || !target) return;
  event.preventDefault();
  target.value = source.textContent;
  target.focus();
});
// Ask before actions that cannot be undone from the panel.
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
