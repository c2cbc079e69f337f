"""A seeded, calibrated partner emulator for a region."""
