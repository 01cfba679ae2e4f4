// Progressive enhancement for the admin pages. Everything works without it: confirmations are real pages
// (?confirm=...), forms post normally. Loaded from our own origin: the pages' CSP forbids inline scripts.
(function () {
  "use strict";

  // Confirmation dialogs: open as modal dialogs in place instead of loading the ?confirm= page.
  function openDialog(dialog) {
    if (dialog.open) dialog.close();
    dialog.showModal();
    var first = dialog.querySelector("input[type=radio]:checked, button[type=submit]");
    if (first) first.focus();
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog"));
      if (dialog && dialog.showModal) {
        event.preventDefault();
        openDialog(dialog);
      }
      return;
    }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      var owner = closer.closest("dialog");
      if (owner) {
        event.preventDefault();
        owner.close();
      }
    }
  });

  document.querySelectorAll("dialog[data-autoshow]").forEach(function (dialog) {
    if (!dialog.showModal) return;
    openDialog(dialog);
    dialog.addEventListener("close", function () {
      // Closing the dialog opened from a ?confirm= link leaves a clean address behind.
      history.replaceState(null, "", location.pathname);
    }, { once: true });
  });

  // "The current token keeps working until <date>": follow the chosen period.
  function formatDate(value) {
    if (!value) return "the date you choose";
    var parts = value.split("T");
    var day = new Date(parts[0] + "T00:00:00Z");
    var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    return day.getUTCDate() + " " + months[day.getUTCMonth()] + " " + day.getUTCFullYear() + ", " +
      (parts[1] || "00:00").slice(0, 5) + " UTC";
  }

  function updateUntil(fieldset) {
    var chosen = fieldset.querySelector("input[type=radio]:checked");
    var target = fieldset.closest("form").querySelector("[data-until-text]");
    if (!chosen || !target) return;
    if (chosen.value === "date") {
      target.textContent = formatDate(fieldset.querySelector("input[type=datetime-local]").value);
    } else {
      target.textContent = chosen.getAttribute("data-until");
    }
  }

  document.querySelectorAll("[data-period-choices]").forEach(function (fieldset) {
    fieldset.addEventListener("change", function () { updateUntil(fieldset); });
    fieldset.addEventListener("input", function (event) {
      if (event.target.type === "datetime-local") {
        var radio = event.target.closest("label").querySelector("input[type=radio]");
        radio.checked = true;
      }
      updateUntil(fieldset);
    });
  });

  // Copy the token.
  function copied(button) {
    button.textContent = "Copied";
    button.classList.add("done");
    setTimeout(function () { button.textContent = "Copy"; button.classList.remove("done"); }, 2500);
  }

  function copyBySelection(element, button) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    if (document.execCommand("copy")) copied(button);
  }

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var element = document.getElementById(button.getAttribute("data-copy"));
      var text = element.textContent.trim();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { copied(button); },
          function () { copyBySelection(element, button); });
      } else {
        copyBySelection(element, button);
      }
    });
  });

  // Leaving the token page hides the token for good: nothing is left for the back button or the page cache.
  function hideSecrets() {
    document.querySelectorAll("[data-secret]").forEach(function (element) {
      element.textContent = "";
      var card = element.closest("[data-token-card]");
      if (card) {
        card.querySelectorAll("[data-copy]").forEach(function (button) { button.disabled = true; });
        var gone = card.querySelector("[data-secret-gone]");
        if (gone) gone.hidden = false;
        var box = element.closest(".token-box");
        if (box) box.hidden = true;
      }
    });
  }
  window.addEventListener("pagehide", hideSecrets);
  window.addEventListener("pageshow", function (event) { if (event.persisted) hideSecrets(); });

  // The small screens' Menu button is a label for a checkbox (so it works without JS); make it a real button for
  // the keyboard and tell assistive technology whether the sidebar is open.
  var navToggle = document.getElementById("nav-toggle");
  document.querySelectorAll("[data-nav-toggle]").forEach(function (button) {
    function sync() { button.setAttribute("aria-expanded", navToggle && navToggle.checked ? "true" : "false"); }
    if (!navToggle) return;
    sync();
    navToggle.addEventListener("change", sync);
    button.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        navToggle.checked = !navToggle.checked;
        sync();
      }
    });
  });

  // Menus (account switcher, user menu): close when clicking elsewhere or pressing Escape.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      document.querySelectorAll("details[data-menu][open]").forEach(function (menu) { menu.open = false; });
    }
  });
})();
