"""Records: every sent letter kept as the official record it is (allmän handling)."""
