// The sandbox's mini-program user: this page plays the mini program. It calls the real /mp/<name> API, and
// the sandbox's /sandbox/mp/wx/... for what the WeChat client would give it (codes, "allow", the chat).
(function () {
  "use strict";
  var data = document.body.dataset;
  var token = null;
  var scene = null;
  var linked = false;

  function $(id) { return document.getElementById(id); }

  function call(method, url, body) {
    var headers = { "Content-Type": "application/json" };
    if (token && url.indexOf(data.api) === 0) headers.Authorization = "Bearer " + token;
    return fetch(url, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (json) {
          if (!r.ok) {
            var error = (json && json.error) || { code: "http_" + r.status, message: "HTTP " + r.status };
            throw error;
          }
          return json;
        });
      });
  }
  function api(method, path, body) { return call(method, data.api + path, body); }
  function wx(method, path, body) {
    return call(method, data.sandbox + path, Object.assign({ app: data.app, openid: data.openid }, body || {}));
  }
  function show(id, error) { $(id).textContent = error ? (error.message || error.code) : ""; }
  function item(text, cls) { var li = document.createElement("li"); li.textContent = text; if (cls) li.className = cls; return li; }

  function showMe(me) {
    linked = me.linked;
    $("me").textContent = me.linked
      ? "已登录，已绑定账号 " + (me.account.platform_account_id || "") + " · 手机 " + (me.account.phone || "")
      : "已登录，未绑定手机号";
    $("authorise").disabled = false;
    $("reminders").disabled = !me.linked;
    if (me.linked) { refreshApplications(); refreshEvents(); }
  }

  $("login").addEventListener("click", function () {
    show("account-error");
    wx("POST", "/wx/login", { unionid: data.unionid })
      .then(function (wxCode) { return api("POST", "/login", { code: wxCode.code }); })
      .then(function (login) { token = login.token; return api("GET", "/me"); })
      .then(showMe)
      .catch(function (e) { show("account-error", e); });
  });

  $("authorise").addEventListener("click", function () {
    show("account-error");
    wx("POST", "/wx/phone", { phone: $("phone").value.trim() })
      .then(function (phone) { return api("POST", "/phone", { code: phone.code, consent: true, change_phone: linked }); })
      .then(showMe)
      .catch(function (e) { show("account-error", e); });
  });

  function refreshApplications() {
    api("GET", "/applications").then(function (answer) {
      var list = $("application-list");
      list.textContent = "";
      $("reminders").value = answer.reminders;
      if (!answer.applications.length) list.appendChild(item("还没有投递", "muted"));
      answer.applications.forEach(function (a) {
        list.appendChild(item((a.job_title || a.application_id) + " · " + (a.company || "") + " · " + (a.status_label || a.status)));
      });
    }).catch(function () {});
  }

  $("reminders").addEventListener("change", function () {
    api("PUT", "/preferences", { reminders: $("reminders").value })
      .then(function () { $("reminders-saved").textContent = "已保存"; })
      .catch(function (e) { $("reminders-saved").textContent = e.message; });
  });

  function signUp(event) {
    show("event-error");
    var form = { consent_event_data: true };
    var samples = { name: "沙盒同学", school: "沙盒大学", major: "计算机科学与技术",
                    graduation_year: new Date().getFullYear() + 1, phone: $("phone").value.trim() };
    event.fields.forEach(function (f) { form[f] = samples[f]; });
    if (scene) form.scene = scene;
    api("POST", "/events/" + encodeURIComponent(event.event_id) + "/signup", form)
      .then(function (answer) {
        $("event-error").textContent = "";
        $("scanned").textContent = "报名成功：" + event.title + "（" + answer.signup.status + "）";
        refreshEvents();
      })
      .catch(function (e) { show("event-error", e); });
  }

  function refreshEvents() {
    api("GET", "/events").then(function (answer) {
      var list = $("event-list");
      list.textContent = "";
      if (!answer.events.length) list.appendChild(item("没有即将开始的活动", "muted"));
      answer.events.forEach(function (event) {
        var li = item(event.title + " · " + event.starts_at.slice(0, 16).replace("T", " ") +
                      (event.seats_left === null ? "" : " · 余 " + event.seats_left + " 座"), "event");
        var button = document.createElement("button");
        button.textContent = "报名";
        button.dataset.event = event.event_id;
        button.addEventListener("click", function () { signUp(event); });
        li.appendChild(document.createTextNode(" "));
        li.appendChild(button);
        list.appendChild(li);
      });
    }).catch(function (e) { show("event-error", e); });
    call("GET", data.sandbox + "/wx/codes?app=" + encodeURIComponent(data.app)).then(function (answer) {
      var box = $("codes");
      box.textContent = "";
      answer.codes.forEach(function (code) {
        var img = document.createElement("img");
        img.src = code.image;
        img.alt = "小程序码 " + code.scene;
        img.title = "扫一扫";
        img.dataset.scene = code.scene;
        img.addEventListener("click", function () { scan(code.scene); });
        box.appendChild(img);
      });
    });
  }

  function scan(key) {
    show("event-error");
    api("GET", "/scene/" + encodeURIComponent(key)).then(function (answer) {
      scene = answer.scene;
      $("scanned").textContent = "扫码打开：" + answer.event.title + "（报名时会带上这个码）";
    }).catch(function (e) { show("event-error", e); });
  }

  var allow = $("allow-reply");
  if (allow) {
    allow.addEventListener("click", function () {
      wx("POST", "/wx/subscribe", { template_ids: [data.replyTemplate] })
        .then(function (answer) { return api("POST", "/subscriptions", { results: answer.results }); })
        .then(function (answer) {
          $("subscribe-result").textContent = "已允许，可收 " + answer.authorisations[data.replyTemplate] + " 条";
        })
        .catch(function (e) { $("subscribe-result").textContent = e.message; });
    });
  }

  var enter = $("enter-chat");
  if (enter) {
    enter.addEventListener("click", function () {
      wx("POST", "/wx/contact", { action: "enter", session_from: "sandbox" }).then(function () {
        $("chat-text").disabled = false;
        $("chat-send").disabled = false;
        refreshInbox();
      });
    });
    $("chat-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var text = $("chat-text").value.trim();
      if (!text) return;
      wx("POST", "/wx/contact", { action: "text", content: text }).then(function () {
        $("chat-text").value = "";
        refreshInbox();
      });
    });
  }

  function refreshInbox() {
    call("GET", data.sandbox + "/wx/inbox?app=" + encodeURIComponent(data.app) + "&openid=" + encodeURIComponent(data.openid))
      .then(function (answer) {
        var list = $("inbox");
        list.textContent = "";
        if (!answer.lines.length) list.appendChild(item("还没有消息", "muted"));
        answer.lines.forEach(function (line) {
          var li = item("", line.who);
          var small = document.createElement("small");
          small.textContent = line.kind + " · " + line.at + " UTC";
          li.appendChild(small);
          li.appendChild(document.createTextNode(line.text));
          list.appendChild(li);
        });
      });
  }
  refreshInbox();
  setInterval(refreshInbox, 3000);
})();
