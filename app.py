"""LayerLab: the frame of the app. Page config, the workflow's pages, the shared sidebar.

Run with ``streamlit run app.py``. No TensorFlow or Keras is imported here or by any page; only
dlcore's model-loading functions import Keras, lazily, when a page needs a trained model.
"""

from pathlib import Path

import streamlit as st

from dlcore.runtime import settle_heap
from dlcore.storage import data_home, sweep_scratch
from pages import frame, navigation
from pages.sidebar import refresh_sidebar, render_sidebar

ASSETS = Path(__file__).parent / "assets"


@st.cache_resource(max_entries=8, show_spinner=False)
def _sweep_scratch_once(home: str) -> int:
    """Once per server start (and data directory): remove the half-unpacked uploads that a
    crashed server left in scratch/. Imports clean up after themselves otherwise."""
    return sweep_scratch(max_age_hours=6)


@st.cache_resource(max_entries=8, show_spinner=False)
def _warm_scheduler_once(home: str) -> bool:
    """Once per server start: start the job scheduler, so that it has Keras imported before
    the first attendee presses Start (the Train page wakes it again if it idled out)."""
    from dlcore.train.jobs import warm_up

    warm_up()
    return True


st.set_page_config(page_title="LayerLab", page_icon=str(ASSETS / "favicon.png"), layout="wide")
st.logo(str(ASSETS / "logo.png"), icon_image=str(ASSETS / "favicon.png"))

PAGES = [
    st.Page(info.path, title=info.title, icon=info.icon, default=info is navigation.START)
    for info in navigation.ALL
]

settle_heap()  # if a page imported Keras: every rerun after this one stays fast
_sweep_scratch_once(str(data_home()))
_warm_scheduler_once(str(data_home()))
page = st.navigation(PAGES)
frame.follow_page_link([info.path for info in navigation.ALL])  # /?page=train&run=...
sidebar = render_sidebar()
page.run()
refresh_sidebar(sidebar)  # the page may have changed the dataset, the model or the run
