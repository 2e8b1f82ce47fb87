"""Kanalväxel (channel switch): digital or paper, with a reason for every outcome."""
