"""The embedded reference of the national infrastructure: another party, not the connector.

It speaks to the connector only through the wire contract (`utskick.mm` and the XSDs) and
never imports connector packages; import-linter enforces the direction both ways.
"""
