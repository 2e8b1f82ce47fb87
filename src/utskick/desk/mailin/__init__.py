"""E-mail in: officers send letters from their e-mail client to an SMTP submission service.

An officer writes to `<personnummer>@<mail_in_domain>` (or to any other address there, with
the number in the subject), attaches PDFs, and the letter goes out from their organisation and
department as if written at the desk; a reply by e-mail tells them what became of it.

- `server`: the SMTP service (aiosmtpd on a thread of its own): STARTTLS, AUTH, relay hosts,
  one recipient, size limit; Swedish answers.
- `intake`: who sends (login, or registered address), and the e-mail taken in: the letter,
  its `MailSubmission` and the `mail_reply` job in one transaction, or a refusal with a reply.
- `parsing`, `html_text`: the e-mail read as a letter (Outlook's and Thunderbird's MIME), and
  what is refused.
- `replies`, `reply_job`, `mail_out`: the replies' words, the job that waits for the outcome,
  and sending through `mail_out_url`.
- `models`: `MailSubmission`, whose `state` is `waiting`, `replied`, or `unsent` (no reply
  could be sent: none configured, or the mail server refused the address for good).
"""
