"""Helpers shared by the Streamlit pages (state, caching, drawing). Core stays UI-free."""
