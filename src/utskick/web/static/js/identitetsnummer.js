/* Swedish identity numbers as people type them, checked in the browser by the rules of
   utskick.identity.parse_identity (date, century, check digit), with its Swedish reasons, so
   that a mistake shows while the number is typed. The server checks every number again; a
   browser test keeps the two in agreement. Exposed as window.UtskickIdentitet.parse. */
(function () {
  "use strict";

  const SAMORDNING_DAY_OFFSET = 60;
  const ORGANISATION_PREFIX = "16";

  function luhnCheckDigit(nine) {
    let total = 0;
    for (let position = 0; position < nine.length; position += 1) {
      const product = Number(nine[position]) * (position % 2 === 0 ? 2 : 1);
      total += product > 9 ? product - 9 : product;
    }
    return (10 - (total % 10)) % 10;
  }

  function invalid(problem) {
    return { ok: false, problem: problem };
  }

  function utcToday() {
    const now = new Date();
    return { year: now.getUTCFullYear(), month: now.getUTCMonth() + 1, day: now.getUTCDate() };
  }

  function isLeap(year) {
    return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  }

  function validDate(year, month, day) {
    const lengths = [31, isLeap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= lengths[month - 1];
  }

  function after(year, month, day, today) {
    if (year !== today.year) return year > today.year;
    if (month !== today.month) return month > today.month;
    return day > today.day;
  }

  function splitSeparator(compact) {
    const separators = compact.split("").filter((char) => char === "+" || char === "-");
    if (separators.length === 0) return { digits: compact, separator: null };
    if (separators.length > 1) return invalid("får ha högst ett bindestreck eller plustecken");
    const position = compact.length - 5;
    if (position < 0 || (compact[position] !== "+" && compact[position] !== "-")) {
      return invalid("bindestrecket eller plustecknet ska stå före de fyra sista siffrorna");
    }
    return { digits: compact.replace(separators[0], ""), separator: separators[0] };
  }

  function organisation(ten, separator) {
    if (separator === "+") return invalid("ett organisationsnummer skrivs med bindestreck, inte plus");
    if (Number(ten[2]) < 2) {
      return invalid("är inget organisationsnummer (tredje siffran ska vara 2 eller större)");
    }
    if (luhnCheckDigit(ten.slice(0, 9)) !== Number(ten[9])) return invalid("kontrollsiffran stämmer inte");
    const value = ORGANISATION_PREFIX + ten;
    return { ok: true, value: value, kind: "organisationsnummer", display: ten.slice(0, 6) + "-" + ten.slice(6) };
  }

  function withCentury(ten, separator, today) {
    const twoDigitYear = Number(ten.slice(0, 2));
    const remainder = (((today.year - twoDigitYear) % 100) + 100) % 100;
    let year = today.year - remainder;
    const month = Number(ten.slice(2, 4));
    const day = Number(ten.slice(4, 6)) % SAMORDNING_DAY_OFFSET;
    const later = month > today.month || (month === today.month && day > today.day);
    if (later && year === today.year) year -= 100;
    if (separator === "+") year -= 100;
    if (year < 1800) return invalid("datumet finns inte");
    return { ok: true, twelve: String(year).padStart(4, "0").slice(0, 2) + ten };
  }

  function person(twelve, today) {
    const year = Number(twelve.slice(0, 4));
    const month = Number(twelve.slice(4, 6));
    let day = Number(twelve.slice(6, 8));
    let kind = "personnummer";
    if (day > SAMORDNING_DAY_OFFSET) {
      kind = "samordningsnummer";
      day -= SAMORDNING_DAY_OFFSET;
    }
    if (!validDate(year, month, day) || year < 1800) return invalid("datumet finns inte");
    if (after(year, month, day, today)) return invalid("datumet ligger i framtiden");
    if (luhnCheckDigit(twelve.slice(2, 11)) !== Number(twelve[11])) {
      return invalid("kontrollsiffran stämmer inte");
    }
    return { ok: true, value: twelve, kind: kind, display: twelve.slice(0, 8) + "-" + twelve.slice(8) };
  }

  /* A personnummer, samordningsnummer or organisationsnummer as people type it (see
     utskick.identity.parse_identity): {ok, value, kind, display} or {ok: false, problem}. */
  function parseIdentity(text, today) {
    today = today || utcToday();
    const compact = text.split(" ").join("");
    if (!compact) return invalid("inget nummer angivet (ange 10 eller 12 siffror)");
    if (!/^[0-9+\- ]*$/.test(compact)) {
      return invalid("får bara innehålla siffror, mellanslag och ett bindestreck eller plustecken");
    }
    const count = compact.replace(/[+-]/g, "").length;
    if (count !== 10 && count !== 12) {
      return invalid("har fel längd: " + count + " siffror (ange 10 eller 12 siffror)");
    }
    const split = splitSeparator(compact);
    if (split.ok === false) return split;
    const digits = split.digits;
    if (digits.length === 12 && digits.startsWith(ORGANISATION_PREFIX)) {
      return organisation(digits.slice(2), split.separator);
    }
    if (digits.length === 10 && Number(digits[2]) >= 2) return organisation(digits, split.separator);
    if (digits.length === 12) {
      if (split.separator === "+") {
        return invalid("plustecken används bara med 10 siffror; med århundrade anges bindestreck");
      }
      return person(digits, today);
    }
    const century = withCentury(digits, split.separator, today);
    return century.ok ? person(century.twelve, today) : century;
  }

  window.UtskickIdentitet = { parse: parseIdentity };
})();
