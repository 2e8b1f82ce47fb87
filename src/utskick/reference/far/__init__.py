"""FaR, Förmedlingsadressregistret: who has a digital mailbox, where, and whom they accept."""
