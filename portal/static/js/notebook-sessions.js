// The notebook's list page: opening a session on the ticked datasets through the sessions
// service's browser JSON route, then going to its page. Problems are shown as text.
(function () {
  "use strict";
  var form = document.getElementById("nb-start");
  if (!form) { return; }
  var config = JSON.parse(document.getElementById("nb-start-section").dataset.config);
  var T = config.messages;
  var message = document.getElementById("nb-start-message");
  var csrf = document.querySelector("meta[name=csrf-token]").getAttribute("content");

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var datasets = Array.prototype.map.call(form.querySelectorAll("input[name=datasets]:checked"),
                                            function (box) { return box.value; });
    if (!datasets.length) { message.textContent = T["Choose at least one dataset."]; return; }
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    message.textContent = T["Opening…"];
    fetch(config.api.sessions, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ datasets: datasets })
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          throw new Error(((data && (data.detail || data.title)) || (T["The server answered"] + " " + response.status)) +
                          (data && data.code ? " [" + data.code + "]" : ""));
        }
        window.location.href = config.session_url.replace("SESSION_ID", encodeURIComponent(data.id));
      });
    }).catch(function (error) {
      message.textContent = error.message;
      button.disabled = false;
    });
  });
}());
