"""The web door: one blueprint per area. Views parse input, call one core function, render."""
