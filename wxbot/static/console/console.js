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

  // Drafts: what the agent types in a reply box is kept in this browser (localStorage, per agent and
  // conversation) as they type, so a reload or an expired session loses nothing. It comes back into an
  // empty box, and is dropped once the thread shows it sent (or the agent logs out).
  var DRAFTS = "wxbot-draft:";

  function drafts(form) {
    var box = form.querySelector("textarea[name=body]");
    var key = DRAFTS + form.getAttribute("data-draft-key");
    var saved = window.localStorage.getItem(key);
    if (saved) {
      var sent = Array.prototype.some.call(document.querySelectorAll(".msg.outbound .pre"), function (p) {
        return p.textContent.trim() === saved.trim();
      });
      if (sent) {
        window.localStorage.removeItem(key);
      } else if (!box.value) {
        box.value = saved;
      }
    }
    function keep() {
      if (box.value) {
        window.localStorage.setItem(key, box.value);
      } else {
        window.localStorage.removeItem(key);
      }
    }
    box.addEventListener("input", keep);

    // Canned replies go in at the cursor (replacing only a selection), never over the draft.
    Array.prototype.forEach.call(document.querySelectorAll("[data-canned]"), function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        var text = link.getAttribute("data-canned");
        var start = box.selectionStart, end = box.selectionEnd;
        box.setRangeText(text, start, end, "end");
        box.focus();
        keep();
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-draft-key]"), drafts);

  var logout = document.querySelector("form.who");
  if (logout) {
    logout.addEventListener("submit", function () {
      Object.keys(window.localStorage).forEach(function (key) {
        if (key.indexOf(DRAFTS) === 0) {
          window.localStorage.removeItem(key);
        }
      });
    });
  }

  // A session that ended while the page was open: say so (in the page's language) before the agent sends.
  document.addEventListener("console:session-ended", function () {
    var notice = document.getElementById("session-ended");
    if (notice) {
      notice.hidden = false;
    }
  });

  var url = body.getAttribute("data-live");
  if (url) {
    live(url);
  }
})();
