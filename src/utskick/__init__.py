"""Utskick: a municipality's connection to Mina meddelanden, with print fallback and records."""

__version__ = "0.1.0"
