"""The case officer's desk: write, send, follow and search letters, and mass mailings."""
