// Kiosk screens: keyboard-wedge scans, scans pushed over server-sent events, page swaps
// without reloads (the event stream stays open), idle logout. No framework, no CDN.
"use strict";
(function () {
  let chain = Promise.resolve();
  let idleTimer = null;
  let tapInFlight = false;
  const STALE_MS = 30000;
  const WEDGE_GAP_MS = 35;  // a scanner types far faster than a finger on a touch keyboard
  let burst = { text: "", last: 0, before: "" };

  // The sentences this script writes, in the screen's language: base.html renders them with
  // gettext into #kiosk-text (inside <body>, so a swapped screen brings its own).
  function text(key, params) {
    const table = document.getElementById("kiosk-text");
    const found = table ? JSON.parse(table.textContent)[key] : undefined;
    return (found || key).replace(/%\((\w+)\)s/g, function (whole, name) {
      return params && name in params ? String(params[name]) : whole;
    });
  }

  // A number as the screen's locale writes it (Hindi and Thai screens use Western digits, as the server does).
  function number(value) {
    return new Intl.NumberFormat(document.documentElement.lang || undefined).format(value);
  }

  // One action at a time, in order: a badge scan then a piece scan must not race.
  function enqueue(action) {
    chain = chain.then(action).catch(function (err) { console.error(err); });
    return chain;
  }

  function isTextField(el) {
    return !!el && el.id !== "scan-input" &&
      (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type !== "hidden"));
  }

  function focusScan() {
    const input = document.getElementById("scan-input");
    if (input && !isTextField(document.activeElement)) input.focus({ preventScroll: true });
  }

  async function swap(response, method) {
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    document.title = doc.title;
    document.documentElement.lang = doc.documentElement.lang;  // the badge decides the language
    document.body.replaceWith(document.adoptNode(doc.body));
    // A refused POST answers in place (409 with why): its URL is not a screen to come back to.
    const screen = method === "GET" || response.redirected;
    if (screen && response.url && response.url !== location.href) history.pushState(null, "", response.url);
    window.scrollTo(0, 0);
    focusScan();
    armIdle();
    armRetry();
    document.dispatchEvent(new CustomEvent("kiosk:swapped"));
  }

  async function go(url, init) {
    const method = (init && init.method) || "GET";
    document.body.classList.add("busy");
    let response;
    try {
      response = await fetch(url, Object.assign({ credentials: "same-origin" }, init || {}));
    } catch (err) {
      showMessage(text("no_server"));
      document.body.classList.remove("busy");
      return;
    }
    await swap(response, method);
  }

  function submitForm(form, submitter) {
    const data = new URLSearchParams(new FormData(form, submitter || null));
    if ((form.getAttribute("method") || "get").toLowerCase() === "post") {
      return go(form.action, { method: "POST", body: data });
    }
    return go(form.action + "?" + data.toString());
  }

  function scan(code) {
    const form = document.getElementById("scan-form");
    if (!form || !code) return Promise.resolve();
    form.elements.code.value = code;
    return submitForm(form);
  }

  // A badge scanned over MQTT arrives as a single-use nonce: the server kept the badge's code.
  function scanBadge(nonce) {
    const form = document.getElementById("scan-form");
    if (!form || !nonce) return Promise.resolve();
    form.elements.code.value = "";
    const data = new URLSearchParams(new FormData(form));
    data.set("badge", nonce);
    return go(form.action, { method: "POST", body: data });
  }

  // The "ledger unavailable" screen fetches itself again until the ledger answers.
  let retryTimer = null;
  function armRetry() {
    clearTimeout(retryTimer);
    const problem = document.querySelector("[data-retry-ms]");
    if (!problem) return;
    retryTimer = setTimeout(function () {
      if (document.querySelector("[data-retry-ms]")) enqueue(function () { return go(location.href); });
    }, parseInt(problem.dataset.retryMs, 10) || 5000);
  }

  function showMessage(text) {
    const box = document.getElementById("messages");
    if (!box) return;
    const p = document.createElement("p");
    p.className = "msg error";
    p.textContent = text;  // never innerHTML: the text comes from a scanner
    box.replaceChildren(p);
  }

  function showReading(reading) {
    const box = document.getElementById("furnace");
    if (!box) return;
    let span = box.querySelector('[data-probe="' + CSS.escape(reading.probe) + '"]');
    if (!span) {
      box.querySelectorAll(".waiting").forEach(function (w) { w.remove(); });
      span = document.createElement("span");
      span.dataset.probe = reading.probe;
      span.append(document.createTextNode(reading.probe + " "), document.createElement("b"));
      box.append(span);
    }
    span.className = "reading" + (reading.fault ? " fault" : "");
    span.dataset.received = String(Date.now());
    span.querySelector("b").textContent = reading.fault ? reading.fault
      : (reading.value_c === null ? "—" : Math.round(reading.value_c) + " °C");
  }

  // A probe that stopped reporting must not look live: grey out a reading older than STALE_MS.
  // The bench scale's live weight at a weighed stage: the advance waits for a stable reading.
  function showWeight(reading) {
    const box = document.getElementById("weigh");
    if (!box) return;
    const ok = reading.stable && !reading.fault && reading.grams !== null && reading.grams > 0;
    document.getElementById("weight").textContent = reading.grams === null ? "—" : reading.grams.toFixed(3) + " g";
    document.getElementById("weight-state").textContent =
      reading.fault ? reading.fault.replace(/_/g, " ") : text(reading.stable ? "stable" : "settling");
    box.dataset.stable = ok ? "yes" : "no";
    document.querySelectorAll("[data-needs-stable-weight]").forEach(function (button) { button.disabled = !ok; });
  }

  function markStale() {
    document.querySelectorAll("#furnace [data-received]").forEach(function (span) {
      span.classList.toggle("stale", Date.now() - parseInt(span.dataset.received, 10) > STALE_MS);
    });
  }

  function armIdle() {
    clearTimeout(idleTimer);
    const ms = parseInt(document.body.dataset.idleMs || "0", 10);
    if (!document.body.dataset.operator || !ms) return;
    idleTimer = setTimeout(function () {
      const form = document.getElementById("logout-form");
      if (form) enqueue(function () { return submitForm(form); });
    }, ms);
  }

  // Scrapping cannot be undone: a button with data-confirm needs a second tap within 4 s.
  function needsSecondTap(button) {
    if (!button || !button.dataset.confirm) return false;
    if (button.dataset.armed && Date.now() - parseInt(button.dataset.armed, 10) < 4000) return false;
    document.querySelectorAll("[data-armed]").forEach(function (other) {
      other.textContent = other.dataset.label;
      delete other.dataset.armed;
    });
    button.dataset.label = button.dataset.label || button.textContent;
    button.dataset.armed = String(Date.now());
    button.textContent = button.dataset.confirm;
    setTimeout(function () {
      if (button.dataset.armed && Date.now() - parseInt(button.dataset.armed, 10) >= 4000) {
        button.textContent = button.dataset.label;
        delete button.dataset.armed;
      }
    }, 4100);
    return true;
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    event.preventDefault();
    if (form.id === "scan-form") {
      const code = form.elements.code.value.trim();
      form.elements.code.value = "";
      enqueue(function () { return scan(code); });
    } else if (needsSecondTap(event.submitter)) {
      return;
    } else if (!tapInFlight) {  // a gloved double tap must not send the move twice
      tapInFlight = true;
      enqueue(function () { return submitForm(form, event.submitter); })
        .finally(function () { tapInFlight = false; });
    }
  });

  document.addEventListener("click", function (event) {
    const link = event.target.closest("a[href]");
    if (!link || link.origin !== location.origin || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    enqueue(function () { return go(link.href); });
  });

  // A scan while a note field has focus: take the burst of fast keys back out and scan it.
  document.addEventListener("keydown", function (event) {
    const field = event.target;
    if (!isTextField(field)) return;
    const now = performance.now();
    if (event.key.length === 1) {
      if (now - burst.last > WEDGE_GAP_MS) burst = { text: "", last: now, before: field.value };
      burst.text += event.key;
      burst.last = now;
    } else if (event.key === "Enter" && burst.text.length >= 4 && now - burst.last <= WEDGE_GAP_MS * 2) {
      event.preventDefault();
      const code = burst.text;
      field.value = burst.before;
      burst = { text: "", last: 0, before: "" };
      enqueue(function () { return scan(code); });
    }
  }, true);

  // A photo check: the kiosk's USB camera through getUserMedia, a live preview, one tap to take
  // it. The picture (a 640x480 JPEG, shrunk under the request limit) is kept by the server and
  // its id becomes the check's answer.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-camera]");
    if (!button) return;
    event.preventDefault();
    openCamera(button);
  });

  function openCamera(button) {
    const name = button.dataset.check;
    const problem = document.querySelector('[data-problem-for="' + name + '"]');
    const say = function (text) { if (problem) problem.textContent = text; };
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say(text("no_camera_access"));
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false }).then(function (stream) {
      const dialog = document.createElement("div");
      dialog.className = "camera-dialog";
      dialog.id = "camera";
      dialog.innerHTML = '<video autoplay playsinline muted></video><div class="pair">' +
        '<button type="button" class="btn big go" id="camera-take"></button>' +
        '<button type="button" class="btn big" id="camera-cancel"></button></div>';
      dialog.querySelector("#camera-take").textContent = text("take_photo");
      dialog.querySelector("#camera-cancel").textContent = text("cancel");
      document.body.appendChild(dialog);
      const video = dialog.querySelector("video");
      video.srcObject = stream;
      const close = function () {
        stream.getTracks().forEach(function (track) { track.stop(); });
        dialog.remove();
      };
      dialog.querySelector("#camera-cancel").addEventListener("click", close);
      dialog.querySelector("#camera-take").addEventListener("click", function () {
        const canvas = document.createElement("canvas");
        canvas.width = 640;
        canvas.height = 480;
        canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
        close();
        shrink(canvas, 0.8, function (blob) { upload(button, name, blob, say); });
      });
    }).catch(function (err) {
      say(text("no_camera", { error: err.name }));
    });
  }

  function shrink(canvas, quality, done) {
    canvas.toBlob(function (blob) {
      if (blob && blob.size > 58000 && quality > 0.3) { shrink(canvas, quality - 0.15, done); return; }
      done(blob);
    }, "image/jpeg", quality);
  }

  function upload(button, name, blob, say) {
    const token = document.querySelector('input[name="csrf_token"]');
    fetch(button.dataset.camera, {
      method: "POST", body: blob, credentials: "same-origin",
      headers: { "Content-Type": "image/jpeg", "X-CSRF-Token": token ? token.value : "" },
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (answer) {
      if (!answer.ok) { say(answer.body.error || text("photo_not_kept")); return; }
      document.querySelector('[data-photo-for="' + name + '"]').value = answer.body.photo_id;
      const thumb = document.querySelector('[data-thumb-for="' + name + '"]');
      thumb.src = answer.body.url;
      thumb.hidden = false;
      button.textContent = text("take_again");
      say("");
    }).catch(function () { say(text("photo_not_sent")); });
  }

  document.addEventListener("pointerdown", armIdle);
  document.addEventListener("keydown", armIdle);
  document.addEventListener("pointerup", function () { setTimeout(focusScan, 0); });
  window.addEventListener("popstate", function () { enqueue(function () { return go(location.href); }); });

  // A running job's progress moves in place: no page fetch once a second.
  function showProgress(shown, data) {
    const bar = shown.querySelector("progress");
    if (!bar) return false;
    bar.value = data.progress;
    bar.textContent = Math.round(data.progress * 100) + " %";
    const eta = shown.querySelector(".eta");
    if (eta) eta.textContent = data.eta_s === null ? "" : text("eta", { seconds: number(Math.round(data.eta_s)) });
    return true;
  }

  const RELISTEN_MS = 5000;
  function listen() {
    const source = new EventSource("/events");
    source.addEventListener("scan", function (event) {
      const data = JSON.parse(event.data);
      armIdle();
      if (data.kind === "badge") {
        if (!data.valid) showMessage(text("badge_scan", { reason: data.reason || text("not_valid") }));
        else enqueue(function () { return scanBadge(data.nonce); });
        return;
      }
      if (!data.valid) {
        showMessage(text("scan_problem", { code: data.code, problem: data.reason || text("not_valid") }));
        return;
      }
      enqueue(function () { return scan(data.code); });
    });
    source.addEventListener("temperature", function (event) { showReading(JSON.parse(event.data)); });
    source.addEventListener("weight", function (event) { showWeight(JSON.parse(event.data)); });
    source.addEventListener("machine", function () {
      // The engraving queue shows the laser's state (and the unlock button in an alarm).
      if (document.body.dataset.page === "engraving") enqueue(function () { return go(location.href); });
    });
    source.addEventListener("job", function (event) {
      const data = JSON.parse(event.data);
      const shown = document.querySelector('[data-job="' + CSS.escape(data.job_id) + '"]');
      if (shown && shown.dataset.state === data.state && data.progress !== null && showProgress(shown, data)) return;
      // The engraving queue, or a piece waiting for the laser, shows job states: fetch it again.
      if (document.body.dataset.page === "engraving" || document.querySelector(".laser")) {
        enqueue(function () { return go(location.href); });
      }
    });
    source.addEventListener("open", function () { document.documentElement.dataset.live = "open"; });
    source.addEventListener("error", function () {
      document.documentElement.dataset.live = "retrying";
      // A stream the server refused (all streams taken, not badged in) is not retried by the
      // browser itself: open a new one a little later.
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(listen, RELISTEN_MS);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusScan();
    armIdle();
    armRetry();
    listen();
    setInterval(markStale, 5000);
  });
})();
