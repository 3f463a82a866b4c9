"""LayerLab's machine-learning core: datasets, experiment specs, models, jobs, evaluation.

The package never imports Streamlit; TensorFlow and Keras are imported lazily, only by the
modules that build, train or run models, so listing datasets or reading runs stays fast.
"""

__version__ = "0.1.0"


class LayerLabError(ValueError):
    """An error a person can fix: the message says what was passed, what is expected and what
    to do. Pages show it with ``st.error``; the CLI prints it on one line and exits with 2."""


# Before any module of the package can import Keras: its caches go under the data directory.
from dlcore.runtime import keep_caches_in_data_dir  # noqa: E402

keep_caches_in_data_dir()
