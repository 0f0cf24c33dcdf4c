"""Offscreen rendering of dressed avatars (pyrender on EGL) and compositing into photos."""
