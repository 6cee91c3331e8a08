"""The one page table: app.py builds the navigation from it and Home draws its cards from it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    """A page of the app: its file, title, icon and what it is for."""

    path: str
    title: str
    icon: str
    blurb: str


PAGES: list[PageInfo] = [
    PageInfo("pages/home.py", "Home", ":material/home:", "What each page does, and one-click presets."),
    PageInfo("pages/train.py", "Train", ":material/model_training:",
             "Pick an autoencoder, a GAN or a classifier, set a few knobs, and watch losses and "
             "reconstructions update live."),
    PageInfo("pages/reconstructions.py", "Reconstructions", ":material/compare:",
             "Originals next to what the model rebuilds, the worst cases, error per class, and denoising."),
    PageInfo("pages/latent_space.py", "Latent space", ":material/scatter_plot:",
             "Every image as a point (PCA, UMAP or t-SNE, 2-D or 3-D); select a region to see its images."),
    PageInfo("pages/generate.py", "Generate", ":material/auto_awesome:",
             "Walk between two images, sample new ones, traverse one latent dimension, do arithmetic "
             "with class means."),
    PageInfo("pages/draw.py", "Draw a digit", ":material/draw:",
             "Draw a digit (or upload a photo): its reconstruction, where it lands on the map, the nearest "
             "training images and a classifier's guess."),
    PageInfo("pages/compare.py", "Hybrid vs CNN", ":material/balance:",
             "Does an autoencoder in front of a CNN help when labels are few? Measured with error bars."),
    PageInfo("pages/side_by_side.py", "Side by side", ":material/view_column:",
             "2 to 4 runs next to each other: the same images rebuilt, their maps, samples, one table. "
             "One click for AE vs VAE or latent 2 vs 32."),
    PageInfo("pages/sweep.py", "What if...", ":material/tune:",
             "One knob over a few values (latent size, beta, noise, sparsity, lambda), trained in turn, "
             "then the result against the knob: for latent size, the compression curve."),
    PageInfo("pages/anomaly.py", "Anomaly detection", ":material/troubleshoot:",
             "Train on normal images only and flag what the model rebuilds badly: ROC, AUC, a threshold, "
             "and the one-class benchmark."),
    PageInfo("pages/runs.py", "Runs", ":material/folder_open:",
             "Every trained model, saved: load, download, upload, delete."),
]
HOME = PAGES[0]
