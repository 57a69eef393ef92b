// Upload page: create the image through the API, then send the file straight to
// PUT /v2/images/ID/file with the chosen store, showing progress. The web server streams
// the body into the store; nothing is spooled in the browser or on the server.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const button = document.getElementById("upload-button");
  const cancel = document.getElementById("cancel-upload");
  const meter = document.getElementById("upload-meter");
  const progress = document.getElementById("upload-progress");
  const percent = document.getElementById("upload-percent");
  const bytes = document.getElementById("upload-bytes");
  const rate = document.getElementById("upload-rate");
  const status = document.getElementById("upload-status");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let xhr = null;
  let imageId = null;
  let cancelled = false;

  function mib(n) { return (n / 1048576).toFixed(1) + " MiB"; }

  function say(text, isError, link) {
    status.textContent = text;
    status.className = isError ? "error" : "ok";
    if (link) {
      const a = document.createElement("a");
      a.id = "image-link";
      a.href = "/images/" + link + "/";
      a.textContent = "Open the image";
      status.append(" ", a);
    }
  }

  function errorMessage(text, fallback) {
    try { return JSON.parse(text).error.message; } catch (e) { return fallback; }
  }

  function properties() {
    const result = {};
    for (const line of form.properties.value.split("\n")) {
      const trimmed = line.trim();
      if (!trimmed) continue;
      const at = trimmed.indexOf("=");
      if (at < 1) throw new Error("Property lines are key=value: " + trimmed);
      result[trimmed.slice(0, at).trim()] = trimmed.slice(at + 1).trim();
    }
    return result;
  }

  function busy(on) {
    button.disabled = on;
    cancel.hidden = !on;
    meter.hidden = false;
  }

  async function createImage(file) {
    const body = Object.assign(properties(), {
      name: form.name.value || file.name,
      disk_format: form.disk_format.value,
      container_format: form.container_format.value,
      visibility: form.visibility.value,
      min_disk: parseInt(form.min_disk.value || "0", 10),
      min_ram: parseInt(form.min_ram.value || "0", 10),
      protected: form.protected.checked,
    });
    const response = await fetch("/v2/images", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json",
                "X-CSRFToken": csrf},
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (response.status !== 201) throw new Error(errorMessage(text, "Creating the image failed (" + response.status + ")"));
    return JSON.parse(text).id;
  }

  function sendFile(id, file, store) {
    return new Promise(function (resolve, reject) {
      const started = performance.now();
      xhr = new XMLHttpRequest();
      xhr.open("PUT", "/v2/images/" + id + "/file");
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      // Errors come as JSON only to a client asking for it, as from Glance.
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-Image-Meta-Store", store);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.upload.onprogress = function (event) {
        if (!event.lengthComputable) return;
        const share = event.total ? Math.floor(100 * event.loaded / event.total) : 100;
        const seconds = (performance.now() - started) / 1000;
        progress.value = share;
        percent.textContent = share + " %";
        bytes.textContent = mib(event.loaded) + " of " + mib(event.total);
        if (seconds > 0) rate.textContent = mib(event.loaded / seconds) + "/s";
      };
      xhr.onload = function () {
        if (xhr.status === 204) resolve();
        else reject(new Error(errorMessage(xhr.responseText, "The upload failed (" + xhr.status + ")")));
      };
      xhr.onerror = function () { reject(new Error("The connection to the portal was lost.")); };
      xhr.onabort = function () { reject(new Error("cancelled")); };
      xhr.send(file);
    });
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const file = form.file.files[0];
    if (!file) { say("Choose a file to upload.", true); return; }
    cancelled = false;
    imageId = null;
    progress.value = 0;
    percent.textContent = "0 %";
    bytes.textContent = rate.textContent = "";
    busy(true);
    say("Uploading…", false);
    try {
      imageId = await createImage(file);
      await sendFile(imageId, file, form.store.value);
      progress.value = 100;
      percent.textContent = "100 %";
      say("Uploaded " + file.name + " into store " + form.store.value + ".", false, imageId);
    } catch (error) {
      if (cancelled) {
        say("Cancelled", false);
      } else {
        say(error.message, true, imageId);
      }
    } finally {
      busy(false);
      xhr = null;
    }
  });

  cancel.addEventListener("click", async function () {
    cancelled = true;
    if (xhr) xhr.abort();
    if (imageId) {
      // The portal removed what reached the store when the transfer broke; the record goes too.
      await fetch("/v2/images/" + imageId, {method: "DELETE", credentials: "same-origin",
                                             headers: {"Accept": "application/json",
                                                       "X-CSRFToken": csrf}});
    }
    say("Cancelled", false);
  });
})();
