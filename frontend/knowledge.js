// "Suggested articles" on the ticket page: Insert link / Insert text put an article into the
// reply box in one click, and the article ids travel with the reply (hidden input
// "inserted_articles", "12:link,15:text") so the server records the link once it is sent.
// The panel arrives by htmx, so the clicks are caught on the document. An article customers
// may not read is only offered as text, and only for an internal note: inserting it switches
// the composer to "Internal note", and a public reply holding it asks before it is sent.

function composer() {
  return document.querySelector("#composer form");
}

function remember(form, articleId, how) {
  const field = form.querySelector("input[name=inserted_articles]");
  if (!field) {
    return;
  }
  const entries = field.value ? field.value.split(",") : [];
  const entry = `${articleId}:${how}`;
  if (!entries.includes(entry)) {
    entries.push(entry);
  }
  field.value = entries.join(",");
}

function insertAtCursor(textarea, text) {
  const start = textarea.selectionStart ?? textarea.value.length;
  const end = textarea.selectionEnd ?? textarea.value.length;
  const before = textarea.value.slice(0, start);
  const after = textarea.value.slice(end);
  const lead = before && !before.endsWith("\n") ? "\n\n" : "";
  const tail = after && !after.startsWith("\n") ? "\n\n" : "";
  textarea.value = `${before}${lead}${text}${tail}${after}`;
  const caret = before.length + lead.length + text.length;
  textarea.focus();
  textarea.setSelectionRange(caret, caret);
  textarea.dispatchEvent(new Event("input", { bubbles: true }));
}

function chooseInternal(form, panel) {
  const internal = form.querySelector("input[name=visibility][value=internal]");
  if (!internal) {
    window.alert(panel.dataset.kbNoNote);
    return false;
  }
  internal.checked = true;
  internal.dispatchEvent(new Event("change", { bubbles: true }));
  return true;
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-kb-insert]");
  if (!button) {
    return;
  }
  const form = composer();
  const textarea = form && form.querySelector("textarea[name=body]");
  const panel = button.closest("[data-testid=kb-panel]");
  if (!textarea || !panel) {
    return;
  }
  event.preventDefault();
  const data = button.dataset;
  let text;
  if (data.kbInsert === "link") {
    text = `${data.kbTitle}\n${data.kbUrl}`;
  } else {
    if (data.kbPublic !== "1" && !chooseInternal(form, panel)) {
      return;
    }
    text = `${data.kbTitle}\n\n${data.kbText}`;
  }
  insertAtCursor(textarea, text);
  remember(form, data.kbArticle, data.kbInsert);
  if (data.kbPublic !== "1" && data.kbInsert === "text") {
    form.dataset.kbInternal = [form.dataset.kbInternal, data.kbArticle].filter(Boolean).join(",");
    form.dataset.kbWarning = panel.dataset.kbInternalWarning;
  }
});

// A public reply that carries an internal article's text asks before it goes to the customer.
document.addEventListener(
  "submit",
  (event) => {
    const form = event.target;
    if (!form.dataset || !form.dataset.kbInternal) {
      return;
    }
    const visibility = form.querySelector("input[name=visibility]:checked");
    if (visibility && visibility.value === "public" && !window.confirm(form.dataset.kbWarning)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  },
  true,
);
