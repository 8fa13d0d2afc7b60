"""exoray dashboard (Streamlit): see :mod:`exoray.dashboard.app`; data views in :mod:`exoray.dashboard.data`."""
