"""E-mail in: officers send letters from their e-mail client to an SMTP submission service."""
