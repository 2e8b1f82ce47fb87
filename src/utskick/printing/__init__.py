"""Printtjänst: PDF letters with the address in the window, print batches, vendor drop, exception lists."""
