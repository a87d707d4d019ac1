"""hardware/virtual."""
