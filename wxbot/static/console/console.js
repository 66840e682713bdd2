// The console's own script, served from /console/static (the pages allow script-src 'self' only).
// Live parts: the page names its live URL (body data-live); every few seconds while the tab is visible the
// script asks it, sending the last ETag, and replaces each element with data-live-part by the id the server
// answers for. A 304 changes nothing. (Why polling: wxbot/console/live.py.)
(function () {
  "use strict";

  var body = document.body;
  var EVERY = Number(body.getAttribute("data-live-every") || 3000);

  function live(url) {
    var etag = null;
    var stopped = false;

    function apply(parts) {
      Object.keys(parts).forEach(function (id) {
        var element = document.getElementById(id);
        if (element && element.hasAttribute("data-live-part")) {
          element.innerHTML = parts[id];
        }
      });
      document.dispatchEvent(new CustomEvent("console:updated"));
    }

    function schedule() {
      if (!stopped) {
        window.setTimeout(poll, EVERY);
      }
    }

    function poll() {
      if (document.hidden) {
        schedule();
        return;
      }
      var headers = { Accept: "application/json" };
      if (etag) {
        headers["If-None-Match"] = etag;
      }
      fetch(url, { headers: headers, credentials: "same-origin", redirect: "manual", cache: "no-store" })
        .then(function (response) {
          if (response.status === 401 || response.type === "opaqueredirect") {
            stopped = true;
            document.dispatchEvent(new CustomEvent("console:session-ended"));
            return null;
          }
          if (response.status !== 200) {
            return null;
          }
          etag = response.headers.get("ETag");
          return response.json().then(function (data) {
            apply(data.parts || {});
          });
        })
        .catch(function () {
          // the network or the server is away for a moment: ask again later
        })
        .then(schedule);
    }

    schedule();
  }

  var url = body.getAttribute("data-live");
  if (url) {
    live(url);
  }
})();
