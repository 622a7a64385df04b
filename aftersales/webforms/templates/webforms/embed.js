/* Aftersales web form: inserts the form in an iframe where this script tag stands (or into
   the element named by data-target) and fits the iframe's height to the form. */
(function () {
  "use strict";
  var config = {{ config|safe }};
  var script = document.currentScript;
  var url = new URL(config.formUrl);
  url.searchParams.set("parent", window.location.origin);
  var language = script && script.getAttribute("data-lang");
  if (language) { url.searchParams.set("lang", language); }
  var frame = document.createElement("iframe");
  frame.src = url.toString();
  frame.title = config.title;
  frame.setAttribute("data-aftersales-form", "");
  frame.style.width = "100%";
  frame.style.border = "0";
  frame.style.height = "640px";
  frame.style.display = "block";
  var selector = script && script.getAttribute("data-target");
  var target = selector ? document.querySelector(selector) : null;
  if (target) {
    target.appendChild(frame);
  } else if (script && script.parentNode) {
    script.parentNode.insertBefore(frame, script.nextSibling);
  } else {
    document.body.appendChild(frame);
  }
  window.addEventListener("message", function (event) {
    // Only the form's own site, and only this iframe, may resize it.
    if (event.origin !== config.origin || event.source !== frame.contentWindow) { return; }
    var data = event.data;
    if (!data || data.source !== "aftersales-webform") { return; }
    if (data.type === "resize" && typeof data.height === "number" && data.height > 0) {
      frame.style.height = Math.min(Math.ceil(data.height), 20000) + "px";
    } else if (data.type === "submitted") {
      if (frame.getBoundingClientRect().top < 0) { frame.scrollIntoView(); }
      frame.dispatchEvent(new CustomEvent("aftersales:submitted", {
        bubbles: true, detail: { number: String(data.number || "") }
      }));
    }
  });
})();
