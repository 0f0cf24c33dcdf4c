"""Perception: find every face and person in a frame (see ``perceiver.Perceiver``)."""
