"""Widget state the pages share: the first value of a widget whose value is kept across page visits.

app.py re-assigns every "keep." key on each full run, so that widgets keep their values when the user visits
another page and comes back; the Compare chart's controls are kept by Streamlit's own persistence instead. A widget
given both a default (`value=`, `index=`, ...) and a value already in the session state makes Streamlit log a
warning with a stack trace, so such a widget takes no default: its first value goes into the session state.
"""

from __future__ import annotations

from typing import Any

import streamlit as st


def initial(key: str, value: Any) -> str:
    """`key`, with `value` put into the session state the first time: pass it as the widget's key, and no default."""
    st.session_state.setdefault(key, value)
    return key
