"""The mailbox operators: Service v3 for senders and the citizen mailbox on the web."""
