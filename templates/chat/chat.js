// The Brevduva chat widget. No cookies, no storage: the conversation id lives in memory.
(function () {
  "use strict";
  var root = document.getElementById("chat");
  var strings = JSON.parse(document.getElementById("chat-strings").textContent);
  var lang = root.getAttribute("data-lang");
  var list = document.getElementById("messages");
  var form = document.getElementById("ask");
  var field = document.getElementById("question");
  var handoff = document.getElementById("handoff");
  var handoffForm = document.getElementById("handoff-form");
  var status = document.getElementById("status");
  var conversation = randomId();
  var lastUnanswered = "";

  function randomId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function add(kind, who, text, urgent) {
    var item = document.createElement("li");
    item.className = kind;
    var name = document.createElement("span");
    name.className = "who";
    name.textContent = who;
    item.appendChild(name);
    var body = document.createElement("span");
    // Where to turn in an emergency is announced at once, not after what is being read.
    if (urgent) body.setAttribute("role", "alert");
    body.textContent = text;
    item.appendChild(body);
    list.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
    return item;
  }

  function meta(item, text) {
    var span = document.createElement("span");
    span.className = "meta";
    span.textContent = text;
    item.appendChild(span);
  }

  function topics(item, label, found) {
    if (!found || !found.length) return;
    meta(item, label);
    var box = document.createElement("div");
    box.className = "topics";
    found.forEach(function (t) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "topic";
      b.textContent = t.title;
      b.addEventListener("click", function () { ask({ topic: t.id }, t.title); });
      box.appendChild(b);
    });
    item.appendChild(box);
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store"
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, data: data }; });
    });
  }

  function problem(data) {
    return strings[data && data.error] || strings.error;
  }

  function ask(what, shown) {
    add("me", strings.you, shown);
    status.textContent = strings.thinking;
    var body = { conversation_id: conversation, language: lang };
    if (what.topic) body.topic = what.topic; else body.message = what.message;
    post("/api/chat", body).then(function (r) {
      status.textContent = "";
      if (!r.ok) { add("bot", strings.bot, problem(r.data)); return; }
      var reply = r.data;
      var urgent = reply.kind === "urgent";
      var item = add(urgent ? "bot urgent" : "bot", strings.bot, reply.text, urgent);
      if (reply.note) meta(item, reply.note);
      if (reply.source) meta(item, strings.source + ": " + reply.source.title);
      if (reply.kind === "not-sure") {
        lastUnanswered = what.message || shown;
        topics(item, strings.closest_topics, reply.suggestions);
        var offer = document.createElement("button");
        offer.type = "button";
        offer.className = "secondary";
        offer.textContent = strings.handoff_offer;
        offer.addEventListener("click", function () {
          handoff.hidden = false;
          document.getElementById("email").focus();
        });
        item.appendChild(offer);
      } else {
        topics(item, strings.more_topics, reply.suggestions);
      }
    }).catch(function () {
      status.textContent = "";
      add("bot", strings.bot, strings.error);
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = field.value.trim();
    if (!text) { field.focus(); return; }
    field.value = "";
    ask({ message: text }, text);
    field.focus();
  });

  field.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  handoffForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var email = document.getElementById("email");
    var consent = document.getElementById("consent");
    if (!email.value || !email.checkValidity()) { add("bot", strings.bot, strings.bad_email); email.focus(); return; }
    if (!consent.checked) { add("bot", strings.bot, strings.consent_required); consent.focus(); return; }
    post("/api/chat/handoff", {
      conversation_id: conversation, email: email.value, consent: true,
      question: lastUnanswered, language: lang
    }).then(function (r) {
      if (!r.ok) { add("bot", strings.bot, problem(r.data)); return; }
      add("bot", strings.bot, strings.case_created + " " + r.data.case_number + ". " + strings.case_created_after);
      handoff.hidden = true;
      field.focus();
    }).catch(function () { add("bot", strings.bot, strings.error); });
  });
})();
