// Upload page, "Metadata": the properties that the metadata definitions associated with
// OS::Glance::Image offer (with that association's prefix, e.g. hw_), as Horizon's Metadata
// step offers them. Picking one adds an input fitting its type (a list for an enum, a
// checkbox for a boolean, a number within its bounds); the values chosen are written as
// key=value lines into the Properties field, which the upload sends as image properties.
(function () {
  "use strict";
  const RESOURCE_TYPE = "OS::Glance::Image";
  const section = document.getElementById("metadata");
  const picker = document.getElementById("metadata-property");
  const addButton = document.getElementById("metadata-add");
  const chosen = document.getElementById("metadata-chosen");
  const textarea = document.getElementById("properties");
  const definitions = new Map();   // property key -> its schema (title, type, enum, ...)
  const managed = new Map();       // property key -> function giving its value as text

  async function getJson(path) {
    const response = await fetch(path, {credentials: "same-origin",
                                        headers: {"Accept": "application/json"}});
    if (!response.ok) throw new Error(path + ": " + response.status);
    return response.json();
  }

  async function load() {
    const type = encodeURIComponent(RESOURCE_TYPE);
    const listed = await getJson("/v2/metadefs/namespaces?limit=1000&sort_key=namespace" +
                                 "&sort_dir=asc&resource_types=" + type);
    for (const summary of listed.namespaces) {
      const namespace = await getJson("/v2/metadefs/namespaces/" +
                                      encodeURIComponent(summary.namespace) +
                                      "?resource_type=" + type);
      const properties = Object.assign({}, namespace.properties || {});
      for (const object of namespace.objects || []) Object.assign(properties, object.properties || {});
      const keys = Object.keys(properties).sort();
      if (!keys.length) continue;
      const group = document.createElement("optgroup");
      group.label = namespace.display_name || namespace.namespace;
      for (const key of keys) {
        definitions.set(key, properties[key]);
        const option = document.createElement("option");
        option.value = key;
        option.textContent = (properties[key].title || key) + " (" + key + ")";
        if (properties[key].description) option.title = properties[key].description;
        group.append(option);
      }
      picker.append(group);
    }
    section.hidden = definitions.size === 0;
  }

  function inputFor(key, schema) {
    // The element to show and a function returning the value as the property's text.
    if (schema.type === "boolean") {
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = schema.default === true;
      return [box, function () { return box.checked ? "true" : "false"; }];
    }
    const options = schema.enum || (schema.items && schema.items.enum);
    if (options) {
      const select = document.createElement("select");
      select.multiple = schema.type === "array";
      for (const value of options) {
        const option = document.createElement("option");
        option.value = option.textContent = String(value);
        option.selected = schema.default !== undefined && String(schema.default) === String(value);
        select.append(option);
      }
      return [select, function () {
        return Array.from(select.selectedOptions, function (o) { return o.value; }).join(",");
      }];
    }
    const input = document.createElement("input");
    if (schema.type === "integer" || schema.type === "number") {
      input.type = "number";
      input.step = schema.type === "integer" ? "1" : "any";
      if (schema.minimum !== undefined) input.min = schema.minimum;
      if (schema.maximum !== undefined) input.max = schema.maximum;
    } else {
      input.type = "text";
      if (schema.maxLength !== undefined) input.maxLength = schema.maxLength;
      if (schema.pattern) input.pattern = schema.pattern;
    }
    if (schema.default !== undefined) input.value = schema.default;
    return [input, function () { return input.value.trim(); }];
  }

  function sync() {
    // Lines for keys this section manages are rewritten; the others stay as typed.
    const kept = textarea.value.split("\n").filter(function (line) {
      const at = line.indexOf("=");
      return line.trim() && !(at > 0 && managed.has(line.slice(0, at).trim()));
    });
    for (const [key, value] of managed) {
      const text = value();
      if (text !== "") kept.push(key + "=" + text);
    }
    textarea.value = kept.length ? kept.join("\n") + "\n" : "";
  }

  function add(key) {
    if (!key || managed.has(key)) return;
    const schema = definitions.get(key);
    const row = document.createElement("div");
    row.className = "metadata-row";
    row.dataset.property = key;
    const label = document.createElement("label");
    label.textContent = (schema.title || key) + " ";
    const code = document.createElement("span");
    code.className = "muted";
    code.textContent = key;
    label.append(code);
    const [input, value] = inputFor(key, schema);
    input.id = "metadata-value-" + key.replace(/[^\w-]/g, "_");
    label.htmlFor = input.id;
    input.addEventListener("input", sync);
    input.addEventListener("change", sync);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "metadata-remove";
    remove.textContent = "Remove";
    remove.addEventListener("click", function () {
      managed.delete(key);
      row.remove();
      picker.querySelector('option[value="' + CSS.escape(key) + '"]').disabled = false;
      textarea.value = textarea.value.split("\n").filter(function (line) {
        return !line.startsWith(key + "=");
      }).join("\n");
      sync();
    });
    row.append(label, input, remove);
    chosen.append(row);
    managed.set(key, value);
    picker.querySelector('option[value="' + CSS.escape(key) + '"]').disabled = true;
    picker.value = "";
    sync();
  }

  addButton.addEventListener("click", function () { add(picker.value); });
  load().catch(function () { section.hidden = true; });
})();
