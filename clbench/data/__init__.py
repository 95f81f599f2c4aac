"""Data sets: where their files are found, how they are verified and read, and batches of them."""
