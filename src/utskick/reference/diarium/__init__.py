"""The diarium stand-in: a municipality's records system that registers sent letters.

Another party, like FaR and the mailbox operators: it shares only the wire contract with the
connector (a signed JSON call, docs/records.md) and imports nothing of the connector.
"""
