// The PIN pad: its big keys write into the PIN field of their form (the kiosk has no keyboard).
// Listens on the document, so it also works on a screen swapped in without a reload.
"use strict";
document.addEventListener("click", function (event) {
  const key = event.target.closest("[data-key]");
  const form = key && key.closest("form[data-pinpad]");
  const input = form && form.querySelector("input[name=pin]");
  if (!input) return;
  const max = parseInt(input.getAttribute("maxlength") || "8", 10);
  if (key.dataset.key === "clear") input.value = "";
  else if (key.dataset.key === "back") input.value = input.value.slice(0, -1);
  else if (input.value.length < max) input.value += key.dataset.key;
});
