/* Nytt brev (/brev/nytt): checks the recipient's number while it is typed (identitetsnummer.js),
   asks where the letter would go (posting the number, never putting it in a URL), keeps the chosen PDFs with a channel each, shows the digital
   message as the recipient will see it, and sends the form without losing anything when it is
   refused. The server checks everything again; without this script the form still posts. */
(function () {
  "use strict";

  const parseIdentity = window.UtskickIdentitet.parse;

  const form = document.getElementById("brev");
  if (!form) return;
  form.classList.add("enhanced"); // the stylesheet draws the file input as its label from now on

  // --- small helpers --------------------------------------------------------------------

  const numbers = new Intl.NumberFormat("sv-SE");
  const byId = (id) => document.getElementById(id);
  const csrfToken = form.elements.namedItem("csrf_token").value;

  function kilobytes(bytes) {
    return numbers.format(Math.max(1, Math.ceil(bytes / 1024))) + " kB";
  }

  function show(element, text, className) {
    element.textContent = text || "";
    element.hidden = !text;
    if (className !== undefined) element.className = className;
  }

  function debounce(action, milliseconds) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(action, milliseconds);
    };
  }

  // --- the recipient: the number at once, then where the letter would go ---------------

  const recipient = byId("mottagare");
  const check = byId("mottagare-kontroll");
  const outlook = byId("mottagare-utfall");
  const outlookNote = byId("mottagare-not");
  const kindNames = {
    personnummer: "Personnummer",
    samordningsnummer: "Samordningsnummer",
    organisationsnummer: "Organisationsnummer",
  };
  let outlookTimer = null;
  let outlookRequest = null;
  let outlookFor = null;

  function clearOutlook() {
    clearTimeout(outlookTimer);
    if (outlookRequest) outlookRequest.abort();
    outlookFor = null;
    show(outlook, "");
    show(outlookNote, "");
  }

  function checkRecipient(finished) {
    const text = recipient.value;
    if (!text.trim()) {
      show(check, "");
      clearOutlook();
      recipient.removeAttribute("aria-invalid");
      return null;
    }
    const result = parseIdentity(text);
    if (!result.ok) {
      const digits = text.replace(/[^0-9]/g, "").length;
      const typing = !finished && digits < 10 && /^[0-9+\- ]*$/.test(text);
      clearOutlook();
      if (typing) {
        show(check, "Skriv 10 eller 12 siffror.", "check");
        recipient.removeAttribute("aria-invalid");
      } else {
        show(check, "Ogiltigt nummer: " + result.problem + ".", "check invalid");
        recipient.setAttribute("aria-invalid", "true");
      }
      return null;
    }
    recipient.removeAttribute("aria-invalid");
    show(check, kindNames[result.kind] + " " + result.display + ": kontrollsiffran stämmer.", "check valid");
    if (result.display !== outlookFor) askOutlookSoon(result.display);
    return result;
  }

  function askOutlookSoon(display) {
    clearTimeout(outlookTimer);
    if (outlookRequest) outlookRequest.abort();
    outlookFor = display;
    show(outlookNote, "");
    show(outlook, "Tar reda på vart brevet går …", "outlook pending");
    outlookTimer = setTimeout(() => askOutlook(display), 350);
  }

  /* Posted, not put in the URL: an identity number in a URL ends up in every access log. */
  async function askOutlook(display) {
    const request = new AbortController();
    outlookRequest = request;
    try {
      const response = await fetch(form.dataset.outlookUrl, {
        method: "POST",
        body: JSON.stringify({ nummer: display }),
        headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
        credentials: "same-origin",
        signal: request.signal,
      });
      const answer = await response.json();
      if (outlookFor !== display) return;
      if (!response.ok) throw new Error(answer.detail || String(response.status));
      show(outlook, answer.line, "outlook " + answer.outcome);
      show(outlookNote, answer.note || "");
    } catch (error) {
      if (error.name === "AbortError" || outlookFor !== display) return;
      outlookFor = null;
      show(outlook, "Det gick inte att ta reda på vart brevet går just nu; det avgörs när brevet skickas.", "outlook unknown");
    }
  }

  recipient.addEventListener("input", () => checkRecipient(false));
  recipient.addEventListener("change", () => checkRecipient(true));
  if (recipient.value) checkRecipient(true);

  // --- message type and protection class ------------------------------------------------

  const messageType = byId("meddelandetyp");
  const protection = byId("skyddsklass");
  const classFour = form.dataset.classFour;

  function chosenClass() {
    const option = messageType.selectedOptions[0];
    return option ? option.dataset.class || "" : "";
  }

  function showProtection() {
    const chosen = chosenClass();
    if (!chosen) {
      show(protection, "Skyddsklassen följer av meddelandetypen.", "hint");
    } else if (chosen === "4") {
      show(protection, classFour + ".", "hint refused");
    } else {
      show(protection, "Skyddsklass " + chosen + ": brevet får skickas via Mina meddelanden.", "hint");
    }
  }

  messageType.addEventListener("change", showProtection);
  if (messageType.value) showProtection();

  // --- attachments: chosen or dropped, each with its channel, sizes against the limit ---

  const fileInput = byId("bilagor");
  const dropZone = byId("slapp-yta");
  const list = byId("bilagelista");
  const sizeLine = byId("storlek");
  const wireLimit = Number(form.dataset.wireLimit);
  const wireOverhead = Number(form.dataset.wireOverhead);
  const channelNames = { both: "båda", digital: "digitalt", paper: "papper" };
  let chosen = [];

  function same(a, b) {
    return a.name === b.name && a.size === b.size && a.lastModified === b.lastModified;
  }

  function isPdf(file) {
    return file.type === "application/pdf" || /\.pdf$/i.test(file.name);
  }

  function keepInput() {
    const transfer = new DataTransfer();
    chosen.forEach((entry) => transfer.items.add(entry.file));
    fileInput.files = transfer.files;
  }

  function add(files) {
    const refused = [];
    Array.from(files).forEach((file) => {
      if (!isPdf(file)) refused.push(file.name);
      else if (!chosen.some((entry) => same(entry.file, file))) chosen.push({ file: file, channel: "both" });
    });
    keepInput();
    drawAttachments();
    if (refused.length) {
      showFieldError("attachments", refused.join(", ") + " är ingen PDF och lades inte till; spara dokumentet som PDF och välj det igen.");
    } else {
      showFieldError("attachments", "");
    }
  }

  function base64Length(bytes) {
    return 4 * Math.ceil(bytes / 3);
  }

  function wireEstimate() {
    const encoder = new TextEncoder();
    const text = encoder.encode(letterText()).length;
    const subject = encoder.encode(byId("amne").value).length;
    const support = encoder.encode(supportText() || "").length;
    const files = chosen.reduce((sum, entry) => sum + base64Length(entry.file.size) + 300, 0);
    return wireOverhead + subject + support + base64Length(text) + files;
  }

  function drawSize() {
    const estimate = wireEstimate();
    const over = estimate > wireLimit;
    sizeLine.className = over ? "size over" : "size";
    sizeLine.textContent = "Brevet blir ca " + kilobytes(estimate) + " av högst " + kilobytes(wireLimit) +
      " när det skickas, bilagorna inräknade" + (over ? ": för stort. Ta bort eller minska bilagor." : ".");
  }

  function attachmentRow(entry, index) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = entry.file.name;
    const size = document.createElement("span");
    size.className = "file-size";
    size.textContent = kilobytes(entry.file.size);
    const label = document.createElement("label");
    label.htmlFor = "kanal-" + index;
    label.textContent = "Skickas";
    label.className = "inline";
    const select = document.createElement("select");
    select.id = "kanal-" + index;
    select.name = "attachment_channel";
    select.setAttribute("aria-label", "Hur " + entry.file.name + " skickas");
    Object.keys(channelNames).forEach((value) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = channelNames[value];
      option.selected = value === entry.channel;
      select.append(option);
    });
    select.addEventListener("change", () => {
      entry.channel = select.value;
      drawPreview();
    });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Ta bort";
    remove.setAttribute("aria-label", "Ta bort " + entry.file.name);
    remove.addEventListener("click", () => {
      chosen.splice(index, 1);
      keepInput();
      drawAttachments();
      (list.querySelector("button") || fileInput).focus();
    });
    item.append(name, size, label, select, remove);
    return item;
  }

  function drawAttachments() {
    list.replaceChildren(...chosen.map(attachmentRow));
    drawSize();
    drawPreview();
  }

  fileInput.addEventListener("change", () => {
    const picked = Array.from(fileInput.files).filter((file) => !chosen.some((entry) => same(entry.file, file)));
    add(picked);
  });
  ["dragenter", "dragover"].forEach((name) => dropZone.addEventListener(name, (event) => {
    event.preventDefault();
    dropZone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((name) => dropZone.addEventListener(name, () => dropZone.classList.remove("dragging")));
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    add(event.dataTransfer.files);
  });
  // A file dropped beside the zone must not replace the page with the PDF (and lose the letter).
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  // --- the officer's contact details as the letter's support text -----------------------

  const useContact = byId("kontakt");
  const contactFields = byId("kontaktfalt");
  const email = byId("kontakt-epost");
  const phone = byId("kontakt-telefon");
  const remembered = "utskick.kontaktuppgifter";

  function showContactFields() {
    contactFields.hidden = !useContact.checked;
  }

  try {
    const stored = JSON.parse(window.localStorage.getItem(remembered) || "{}");
    if (!email.value && stored.email) email.value = stored.email;
    if (!phone.value && stored.phone) phone.value = stored.phone;
  } catch (error) {
    /* no storage (private window): the fields start empty */
  }

  function rememberContact() {
    try {
      window.localStorage.setItem(remembered, JSON.stringify({ email: email.value.trim(), phone: phone.value.trim() }));
    } catch (error) {
      /* nothing remembered: not needed to send */
    }
  }

  useContact.addEventListener("change", showContactFields);
  showContactFields();

  function letterText() {
    return byId("text").value.replace(/\r\n/g, "\n");
  }

  /* The letter's own support text, as utskick.desk.sending makes it; null: the organisation's. */
  function supportText() {
    if (!useContact.checked) return null;
    const lines = [form.dataset.contactWho];
    if (email.value.trim()) lines.push("E-post: " + email.value.trim());
    if (phone.value.trim()) lines.push("Telefon: " + phone.value.trim());
    return lines.join("\n");
  }

  // --- the digital message as the recipient sees it ---------------------------------------

  function drawPreview() {
    const subject = byId("amne").value.trim();
    byId("fv-amne").textContent = subject || "(Ämne saknas)";
    byId("fv-text").textContent = letterText();
    const support = byId("fv-supporttext");
    support.textContent = supportText() || support.dataset.organisationText;
    const digital = chosen.filter((entry) => entry.channel !== "paper");
    byId("fv-bilagor").replaceChildren(...digital.map((entry) => {
      const item = document.createElement("li");
      item.textContent = entry.file.name + " (" + kilobytes(entry.file.size) + ")";
      return item;
    }));
    byId("fv-bilagor-block").hidden = digital.length === 0;
    const link = byId("etjanst").value.trim();
    const shown = /^https?:\/\/[^\s/]+/i.test(link);
    byId("fv-etjanst").hidden = !shown;
    const anchor = byId("fv-etjanst-lank");
    anchor.textContent = shown ? link : "";
    anchor.href = shown ? link : "#";
    const caseNumber = byId("diarienummer").value.trim();
    byId("fv-diarienummer").textContent = caseNumber;
    byId("fv-diarienummer").hidden = !caseNumber;
    byId("fv-diarienummer-rubrik").hidden = !caseNumber;
    drawSize();
  }

  form.addEventListener("input", debounce(drawPreview, 120));
  form.addEventListener("change", drawPreview);
  drawPreview();

  // --- refusals beside their fields, and a summary that takes the focus -------------------

  const summary = byId("felsammanfattning");

  function showFieldError(field, message) {
    const target = form.querySelector('[data-error-for="' + field + '"]');
    if (!target) return false;
    show(target, message);
    const details = target.closest("details");
    if (details && message) details.open = true;
    const input = byId(inputIdOf(field));
    if (input) {
      if (message) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
    return true;
  }

  function inputIdOf(field) {
    const target = form.querySelector('[data-error-for="' + field + '"]');
    const owner = target && target.parentElement.querySelector("input, select, textarea");
    return owner ? owner.id : "";
  }

  function clearErrors() {
    form.querySelectorAll("[data-error-for]").forEach((element) => show(element, ""));
    form.querySelectorAll('[aria-invalid="true"]').forEach((element) => element.removeAttribute("aria-invalid"));
    summary.hidden = true;
  }

  function showErrors(errors) {
    clearErrors();
    const items = summary.querySelector("ul");
    items.replaceChildren();
    errors.forEach((error) => {
      const placed = error.field !== "form" && showFieldError(error.field, error.message);
      const item = document.createElement("li");
      const inputId = placed ? error.input || inputIdOf(error.field) : "";
      if (inputId) {
        const link = document.createElement("a");
        link.href = "#" + inputId;
        link.textContent = error.message;
        item.append(link);
      } else {
        item.textContent = error.message;
      }
      items.append(item);
    });
    summary.querySelectorAll("p").forEach((paragraph) => paragraph.remove());
    summary.hidden = false;
    summary.focus();
  }

  summary.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#']");
    if (!link) return;
    const input = byId(link.getAttribute("href").slice(1));
    if (!input) return;
    event.preventDefault();
    const details = input.closest("details");
    if (details) details.open = true;
    input.focus();
  });

  // --- sending ----------------------------------------------------------------------------

  const sendButton = byId("skicka");
  const sendingStatus = byId("skickar");
  // The CSRF guard reads a form's token from the form itself only up to 1 MiB; larger forms
  // carry it in the header, which only a script can add.
  const largestPlainForm = 900 * 1024;
  let sending = false;

  function formBytes() {
    return chosen.reduce((sum, entry) => sum + entry.file.size, 0) + new Blob([letterText(), supportText() || ""]).size + 4096;
  }

  function refusedBeforeSending() {
    const errors = [];
    if (recipient.value.trim()) {
      const result = parseIdentity(recipient.value);
      if (!result.ok) errors.push({ field: "recipient", message: "Ogiltigt nummer: " + result.problem + "." });
    }
    if (chosenClass() === "4") errors.push({ field: "message_type", message: classFour + "." });
    return errors;
  }

  async function post(url, accept) {
    return fetch(url, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: accept, "X-CSRF-Token": csrfToken },
      credentials: "same-origin",
    });
  }

  async function send() {
    const refused = refusedBeforeSending();
    if (refused.length) {
      showErrors(refused);
      return;
    }
    sending = true;
    sendButton.setAttribute("aria-disabled", "true");
    sendingStatus.textContent = "Skickar brevet …";
    try {
      const response = await post(form.action, "application/json");
      const answer = await response.json().catch(() => null);
      if (response.ok && answer && answer.location) {
        rememberContact();
        sendingStatus.textContent = "Brevet är skickat. Brevets sida öppnas …";
        window.location.assign(answer.location);
        return;
      }
      sendingStatus.textContent = "";
      if (answer && answer.errors && answer.errors.length) showErrors(answer.errors);
      else showErrors([{ field: "form", message: (answer && answer.detail) || "Brevet kunde inte skickas (" + response.status + "); försök igen om en stund." }]);
    } catch (error) {
      sendingStatus.textContent = "";
      showErrors([{ field: "form", message: "Kontakten med Utskick bröts, så det är oklart om brevet skickades. Tryck Skicka brevet igen: samma brev skickas aldrig två gånger." }]);
    } finally {
      sending = false;
      sendButton.removeAttribute("aria-disabled");
    }
  }

  async function downloadPreview(url) {
    sendingStatus.textContent = "Förhandsgranskningen tas fram …";
    try {
      const response = await post(url, "application/pdf, application/json");
      if (!response.ok) {
        const answer = await response.json().catch(() => null);
        sendingStatus.textContent = (answer && answer.detail) || "Förhandsgranskningen kunde inte tas fram.";
        return;
      }
      const address = URL.createObjectURL(await response.blob());
      const link = document.createElement("a");
      link.href = address;
      link.download = "forhandsvisning.pdf";
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(address), 60000);
      sendingStatus.textContent = "Förhandsgranskningen laddades ned som forhandsvisning.pdf: bilagorna är för stora för att öppna den i en ny flik.";
    } catch (error) {
      sendingStatus.textContent = "Kontakten med Utskick bröts; förhandsgranska igen.";
    }
  }

  form.addEventListener("submit", (event) => {
    const submitter = event.submitter;
    if (submitter && submitter.id === "forhandsgranska") {
      if (formBytes() <= largestPlainForm) return; // the browser posts it to a new tab
      event.preventDefault();
      downloadPreview(submitter.formAction);
      return;
    }
    event.preventDefault();
    if (!sending) send();
  });

  // Enter in a one-line field must not send a half-written letter (as in an e-mail program).
  form.addEventListener("keydown", (event) => {
    const target = event.target;
    const oneLine = target instanceof HTMLInputElement && !["checkbox", "radio", "file", "submit", "button"].includes(target.type);
    if (event.key === "Enter" && oneLine) event.preventDefault();
  });
})();
