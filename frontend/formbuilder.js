// The form builder of the custom-field settings (/settings/fields/): drag a field by its handle
// to another place or into another section of the same form. Each drop posts the whole order of
// the form (keys, and the section of each) to the reorder endpoint, and the form's card comes
// back re-rendered from what was stored. The ↑/↓ buttons in each row stay as the keyboard and
// no-JavaScript way to do the same within a section.
import htmx from "htmx.org";
import Sortable from "sortablejs";

import "./formbuilder.css";

function postOrder(table) {
  const keys = [];
  const sections = [];
  table.querySelectorAll("tbody[data-section] > tr[data-key]").forEach((row) => {
    keys.push(row.dataset.key);
    sections.push(row.parentElement.dataset.section);
  });
  return htmx.ajax("POST", table.dataset.reorderUrl, {
    source: table,
    target: table.closest("section.card"),
    swap: "outerHTML",
    values: {
      target: table.dataset.target,
      subtarget: table.dataset.subtarget,
      keys,
      sections,
    },
  });
}

function startFormBuilder(root) {
  const tables = root.matches && root.matches("table[data-form-builder]")
    ? [root]
    : Array.from(root.querySelectorAll("table[data-form-builder]"));
  tables.forEach((table) => {
    if (table.dataset.formBuilderStarted) {
      return;
    }
    table.dataset.formBuilderStarted = "true";
    // One group per form: a field can change section, never form (that would change the
    // ticket type or object it belongs to).
    const group = `${table.dataset.target}:${table.dataset.subtarget}`;
    table.querySelectorAll("tbody[data-section]").forEach((body) => {
      Sortable.create(body, {
        group,
        handle: ".drag-handle",
        draggable: "tr[data-key]",
        animation: 150,
        emptyInsertThreshold: 24,
        ghostClass: "is-drag-ghost",
        chosenClass: "is-drag-chosen",
        onEnd(event) {
          if (event.from !== event.to || event.oldIndex !== event.newIndex) {
            postOrder(table);
          }
        },
      });
    });
  });
}

// Before the card is replaced, drop the style attributes SortableJS left on rows while
// animating: htmx would copy them onto the new rows with the same id ("settling"), and setting
// a style attribute is an inline style that the CSP refuses.
document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  if (target && target.querySelector && target.querySelector("table[data-form-builder]")) {
    target.querySelectorAll("[style]").forEach((element) => element.removeAttribute("style"));
  }
});

htmx.onLoad(startFormBuilder);
