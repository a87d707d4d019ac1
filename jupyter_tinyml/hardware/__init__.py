"""Talking to boards: build firmware, upload it, and talk to the board over serial.

programs (finding and running tools) · settings (every timeout) · reporter (progress and log lines) ·
build + diagnostics + results (compile, read the compiler) · flash + uploaders/ (upload, one module per uploader) ·
ports, drives, reset (finding a board on USB, its bootloader) · serial_link + protocol + device_check (the link, its
lines, the on-device check) · virtual/ (the emulated board: image for compiling, qemu for running).
"""
