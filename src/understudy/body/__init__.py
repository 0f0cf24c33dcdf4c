"""Parametric bodies for stand-ins: the anny model, its phenotype from attributes, its fit to
a person's keypoints, and its clothing."""
