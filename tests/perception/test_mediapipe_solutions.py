"""MediaPipe without matplotlib.pyplot at start-up (issue 18), and pyplot intact afterwards."""

import subprocess
import sys

CHECK = """
import sys
from understudy.perception.pose import MediaPipePose
from understudy.perception.segmentation import SelfieSegmenter
MediaPipePose(), SelfieSegmenter()
assert "matplotlib.figure" not in sys.modules, "pyplot was imported with MediaPipe"
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.plot([0, 1], [1, 0])
assert "matplotlib.figure" in sys.modules and type(sys.modules["matplotlib.pyplot"]).__name__ == "module"
from mediapipe.python.solutions import drawing_utils
assert drawing_utils.plt.figure is plt.figure  # MediaPipe's own drawing still finds pyplot
print("ok")
"""


def test_mediapipe_starts_without_pyplot_and_pyplot_still_works():
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
