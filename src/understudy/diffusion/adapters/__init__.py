"""CAMOUFLaGE-Light: Stable Diffusion steered by two small trained adapters.

* an IP-Adapter (decoupled cross-attention) fed the embedding of each person's face crop
  from a pluggable CLIP-style image encoder (``encoders``, ``adapters``);
* a T2I-Adapter fed a spatial map that draws each person's 40 CelebA attributes and 5 facial
  keypoints inside that person's own region, so two people's features never mix
  (``celeba``, ``encoding``).

SD and the image encoder stay frozen; only the adapters are trained (``train``). Inference
(``pipeline``) runs the adapter once per image and one UNet pass per step, which is why it
costs about half of CAMOUFLaGE-Base (five ControlNets plus a negative-control pass).
"""
