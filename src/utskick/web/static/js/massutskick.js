// Massutskick (/massutskick, desk/templates/massutskick*.html): uploads the table with its
// progress shown, inserts a column's merge field where the cursor is, and follows the
// precheck and the sending by asking /massutskick/{id}/status every second, updating the
// counts (aria-live regions) until every letter has an outcome. Every page works without it
// (a plain form post for files under 1 MB, a reload to see the progress); it is a file because
// the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  var POLL_MS = 1000;
  // Letters waiting for a print batch may wait a long time: ask less often after a while.
  var SLOW_POLL_MS = 10000;
  var SLOW_AFTER_MS = 5 * 60 * 1000;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function number(count) {
    return Number(count).toLocaleString("sv-SE");
  }

  function setText(id, text) {
    var element = document.getElementById(id);
    if (element && element.textContent !== text) {
      element.textContent = text;
    }
  }

  // --- the upload -------------------------------------------------------------------------

  function setupUpload(form) {
    var input = document.getElementById("fil");
    var error = document.getElementById("fel-fil");
    var status = document.getElementById("uppladdning-status");
    var button = form.querySelector('button[type="submit"]');
    var maxBytes = Number(form.dataset.maxBytes);

    function refuse(message) {
      error.textContent = message;
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      status.textContent = "";
      button.disabled = false;
      input.focus();
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var file = input.files && input.files[0];
      if (!file) {
        refuse("Välj en CSV- eller Excel-fil (.csv eller .xlsx) med en rad per mottagare.");
        return;
      }
      if (maxBytes && file.size > maxBytes) {
        refuse("Filen är större än " + Math.floor(maxBytes / 1048576) + " MB, som är det mesta " +
          "som tas emot; dela upp mottagarna i flera filer.");
        return;
      }
      error.hidden = true;
      input.removeAttribute("aria-invalid");
      button.disabled = true;
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("X-CSRF-Token", csrfToken());
      request.setRequestHeader("Accept", "application/json");
      request.upload.addEventListener("progress", function (progress) {
        if (progress.lengthComputable) {
          status.textContent = "Laddar upp: " + Math.floor(100 * progress.loaded / progress.total) + " %";
        }
      });
      request.upload.addEventListener("load", function () {
        status.textContent = "Filen är uppladdad och läses …";
      });
      request.addEventListener("load", function () {
        var answer = {};
        try {
          answer = JSON.parse(request.responseText);
        } catch (ignored) {
          answer = {};
        }
        if (request.status === 201 && answer.location) {
          window.location.assign(answer.location);
          return;
        }
        refuse(answer.detail || "Filen kunde inte tas emot; ladda om sidan och försök igen.");
      });
      request.addEventListener("error", function () {
        refuse("Filen kunde inte skickas: anslutningen bröts. Försök igen.");
      });
      var body = new FormData();
      body.append("fil", file, file.name);
      request.send(body);
    });
  }

  // --- merge fields ---------------------------------------------------------------------

  function setupChips(form) {
    var fields = form.querySelectorAll(".template");
    var target = document.getElementById("text");
    fields.forEach(function (field) {
      field.addEventListener("focus", function () {
        target = field;
      });
    });
    form.querySelectorAll("button.chip").forEach(function (chip) {
      chip.addEventListener("click", function () {
        var text = chip.dataset.insert;
        var start = target.selectionStart === null ? target.value.length : target.selectionStart;
        var end = target.selectionEnd === null ? start : target.selectionEnd;
        target.value = target.value.slice(0, start) + text + target.value.slice(end);
        target.focus();
        target.setSelectionRange(start + text.length, start + text.length);
      });
    });
  }

  // --- the progress -----------------------------------------------------------------------

  function showLetters(letters) {
    if (!letters) {
      return;
    }
    setText("brev-utfall", number(letters.known) + " av " + number(letters.total) +
      " brev har ett utfall.");
    var body = document.getElementById("brev-lagen");
    if (!body) {
      return;
    }
    var rows = letters.counts.map(function (count) {
      var row = document.createElement("tr");
      [count.state, count.channel, number(count.count)].forEach(function (value, index) {
        var cell = document.createElement("td");
        if (index < 2) {
          cell.className = "text";
        }
        cell.textContent = value;
        row.appendChild(cell);
      });
      return row;
    });
    body.replaceChildren.apply(body, rows);
  }

  function showProgress(status) {
    setText("lage", status.status_text);
    var precheck = status.precheck;
    ["digital", "paper", "unknown", "impossible", "problem"].forEach(function (name) {
      setText("antal-" + name, number(precheck[name]));
    });
    if (status.status === "checking") {
      setText("kontroll-lage", "Kontrollerar mottagarna: " + number(precheck.rows) + " rader klara.");
    }
    var sending = status.sending;
    setText("skickas-lage", number(sending.handed_over) + " av " + number(sending.to_send) +
      " rader lämnade: " + number(sending.accepted) + " brev mottagna, " +
      number(sending.refused) + " inte mottagna.");
    var meter = document.getElementById("skickas-matare");
    if (meter) {
      meter.max = Math.max(1, sending.to_send);
      meter.value = sending.handed_over;
    }
    showLetters(status.letters);
  }

  function follow(section) {
    var first = section.dataset.status;
    var lettersFinal = section.dataset.lettersFinal === "true";
    var following = first === "checking" || first === "sending" || (first === "sent" && !lettersFinal);
    if (!following) {
      return;
    }
    var started = Date.now();

    function ask() {
      fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (answer) {
          if (!answer.ok) {
            throw new Error("status " + answer.status);
          }
          return answer.json();
        })
        .then(function (status) {
          showProgress(status);
          // A finished or interrupted step shows other parts of the page: draw it anew.
          if ((first === "checking" && status.status !== "checking") ||
              (status.status === "interrupted")) {
            window.location.reload();
            return;
          }
          if (status.status === "sent" && status.letters && status.letters.final) {
            return;
          }
          next();
        })
        .catch(next);
    }

    function next() {
      window.setTimeout(ask, Date.now() - started > SLOW_AFTER_MS ? SLOW_POLL_MS : POLL_MS);
    }

    next();
  }

  var upload = document.getElementById("uppladdning");
  if (upload) {
    setupUpload(upload);
  }
  var mapping = document.getElementById("mall");
  if (mapping) {
    setupChips(mapping);
  }
  var progress = document.getElementById("kontroll");
  if (progress && progress.dataset.statusUrl) {
    follow(progress);
  }
})();
