// Image page: confirm destructive actions; while a copy runs, poll the image and reload
// the page when it is done, so the new location appears.
(function () {
  "use strict";
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  const copyForm = document.getElementById("copy-form");
  const meter = document.getElementById("copy-progress");
  if (copyForm) {
    copyForm.addEventListener("submit", function () { meter.hidden = false; });
  }
  if (!meter || !meter.dataset.importing) return;
  const id = meter.dataset.imageId;
  const timer = setInterval(async function () {
    const response = await fetch("/v2/images/" + id, {credentials: "same-origin",
                                                      headers: {"Accept": "application/json"}});
    if (!response.ok) return;
    const image = await response.json();
    if (!image.os_glance_importing_to_stores) {
      clearInterval(timer);
      window.location.reload();
    }
  }, 1000);
})();
