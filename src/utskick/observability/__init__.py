"""What an operator watches: structured logs with a request id, and Prometheus metrics.

The very bottom floor: it imports nothing of Utskick, so that every floor can log with the
request id and count what it does. Higher floors hand their values in.
"""
