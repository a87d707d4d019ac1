"""The virtual board: the portable C target compiled for QEMU's mps2-an386 (image.py) and run there (qemu.py)."""
