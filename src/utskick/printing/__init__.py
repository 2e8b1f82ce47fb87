"""Printtjänst: PDF letters with the address in the window, print batches, exception lists."""
