"""A population register stand-in (like SPAR): names and postal addresses."""
