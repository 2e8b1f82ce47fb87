"""The letter: its parts, protection class, channel wishes, events and state."""
