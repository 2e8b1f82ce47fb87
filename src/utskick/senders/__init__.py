"""Sender organisations (avsändare): the legal persons that sign letters (R9).

One municipality may send for several organisations (a joint committee sends decisions for
four); Mina meddelanden allows one sender per delivery, so each organisation is held with its
own name, organisationsnummer and key.
"""
