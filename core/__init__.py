"""Latent Lab's model package: datasets, models, the training engine, runs and analyses. Never imports Streamlit.

Data flows one way: datasets -> models + engine -> pipeline -> store ->
codes / latent / projection / compare -> jobs -> (the UI, the CLI, benches).
"""
