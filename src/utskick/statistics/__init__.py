"""What happened to the letters, month by month, and the benefit realised."""
