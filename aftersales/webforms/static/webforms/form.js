/* The web form inside its iframe: reports its height to the embedding page (only to the
   origin the server vouched for), re-renders conditional fields, and guards double posts. */
(function () {
  "use strict";
  var parentOrigin = document.body.getAttribute("data-parent-origin");
  var embedded = window.parent !== window && parentOrigin;

  function tell(message) {
    if (!embedded) { return; }
    message.source = "aftersales-webform";
    window.parent.postMessage(message, parentOrigin);
  }

  function reportHeight() {
    // The body's own height: the document's scrollHeight never drops below the iframe's
    // current height, so the frame could grow but never shrink back.
    tell({ type: "resize", height: Math.ceil(document.body.getBoundingClientRect().height) });
  }

  if (embedded) {
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(reportHeight).observe(document.body);
    }
    window.addEventListener("load", reportHeight);
    reportHeight();
  }

  if (document.querySelector("[data-testid=web-form-done]")) {
    // The answer replaces a long form: start at its top, not where the form was scrolled to.
    window.scrollTo(0, 0);
  }
  var done = document.querySelector("[data-ticket-number]");
  if (done) {
    tell({ type: "submitted", number: done.getAttribute("data-ticket-number") });
  }

  var form = document.querySelector("form[data-fields-url]");
  if (!form) { return; }
  var pending = null;

  form.addEventListener("change", function (event) {
    var holder = document.getElementById("custom-fields");
    if (!holder || !holder.contains(event.target)) { return; }
    var data = new FormData(form);
    data.delete("photos");
    if (pending) { pending.abort(); }
    pending = new AbortController();
    fetch(form.getAttribute("data-fields-url"), {
      method: "POST", body: data, credentials: "omit", signal: pending.signal
    }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (html === null) { return; }
      var focused = document.activeElement && document.activeElement.id;
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("custom-fields");
      var current = document.getElementById("custom-fields");
      if (fresh && current) {
        current.replaceWith(document.importNode(fresh, true));
        var again = focused && document.getElementById(focused);
        if (again) { again.focus(); }
        document.body.dispatchEvent(new CustomEvent("webform:fields-updated"));
      }
    }).catch(function () { /* aborted by a newer change, or offline: the post still checks */ });
  });

  form.addEventListener("submit", function () {
    var button = form.querySelector("button[type=submit]");
    if (button) {
      // After the browser has taken the post: disabling first would drop the button's value.
      setTimeout(function () { button.disabled = true; }, 0);
    }
  });
})();
