"""One module per lifecycle stage: its prompt, its offline recipe, the cells it produces."""
