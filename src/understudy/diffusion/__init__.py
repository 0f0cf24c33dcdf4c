"""Diffusion building blocks shared by the diffusion methods (RefSD, CAMOUFLaGE, Mask-SD).

``loading`` finds and loads Stable Diffusion pipelines and ControlNets from a Hugging Face
hub id or a local folder; ``tiny`` writes tiny random pipelines for tests; ``annotators``
turns a scene into ControlNet control maps; ``negative`` is CAMOUFLaGE's denoising loop
with a negative (identity-function) control. Everything imports torch lazily.
"""
