"""Evaluation: does an anonymized dataset still identify anyone, and is it still useful?

``understudy.evaluation.api.evaluate`` compares a folder of originals with one or more
anonymized versions of it (same relative paths) and writes ``report.json`` and
``report.html``. Each measurement lives in its own module (privacy, appearance, posture,
attributes, quality); heavy models load lazily inside them.
"""
