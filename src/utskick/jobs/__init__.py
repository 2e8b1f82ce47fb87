"""The job table and its leased queue, which every area's work runs through."""
