"""Förmedlingstjänst (intermediary): sign, seal and deliver to the recipient's operator."""
