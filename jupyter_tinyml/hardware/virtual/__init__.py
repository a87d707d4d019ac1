"""The virtual board, QEMU's mps2-an386 Cortex-M4: firmware images built for it (image.py: the portable C target;
tflm.py: the Arduino sketch against the real TFLite Micro library, whose cached build is archive.py) and run
there (qemu.py)."""
