"""Autoencoders: MLP AE (denoising, sparse), convolutional AE and VAE."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import ACTIVATIONS, LatentModel, PadCrop, Shape, activation, adam, conv_decoder, conv_encoder, recon_bce
from .spec import knob

LATENT_SIZES = (2, 3, 4, 8, 16, 32, 64, 128)
LOG2PI = math.log(2 * math.pi)
SHIFT_SHARE = 0.5  # of each batch, the images a VAE's random shifts move (the rest keep the data's own framing)
IW_SAMPLES = 16  # importance samples per image for the IWAE bound (papers use 5,000; 16 keeps eval to seconds)


def latent_knob(default: int):
    """The code size knob every latent family shares."""
    return knob(default, "Latent size", "How many numbers the code of each image has.",
                lo=1, hi=1024, options=LATENT_SIZES)


def hidden_knob():
    """Sizes of an MLP's hidden layers: bounded, so a saved run cannot ask for a huge model."""
    return knob((512, 256), "Hidden layers", "Units of each hidden layer, encoder side (the decoder mirrors it).",
                lo=1, hi=4096, max_len=6, form=False)


def widths_knob(default: tuple[int, ...] = (32, 64)):
    """Channels of each stride-2 conv layer: bounded, so a saved run cannot ask for a huge model."""
    return knob(default, "Conv widths", "Channels of each stride-2 convolution (each halves the image side).",
                lo=1, hi=512, max_len=5, form=False)


def noise_knob():
    """Input noise for a denoising autoencoder."""
    return knob(0.0, "Input noise (denoising)", "Corrupt inputs with Gaussian noise; the target stays "
                "clean, so the model learns to denoise.", lo=0, step=0.05, ui_hi=0.8)


def sparsity_knob():
    """Weight of an L1 penalty on the code."""
    return knob(0.0, "Sparsity (L1 on the code)", "Pushes most code numbers to zero.", lo=0, step=0.01,
                ui_hi=1.0)


@dataclass
class AEConfig:
    """MLP autoencoder: image -> hidden layers -> code -> mirror."""

    latent_dim: int = latent_knob(32)
    hidden: tuple[int, ...] = hidden_knob()
    noise: float = noise_knob()  # std of Gaussian input noise (denoising AE); 0 = off
    sparsity: float = sparsity_knob()  # weight of the L1 penalty on the code; 0 = off


@dataclass
class CAEConfig:
    """Convolutional autoencoder: stride-2 convs -> code -> transposed convs."""

    latent_dim: int = latent_knob(32)
    widths: tuple[int, ...] = widths_knob()
    noise: float = noise_knob()  # std of Gaussian input noise (denoising); 0 = off
    sparsity: float = sparsity_knob()  # weight of the L1 penalty on the code; 0 = off


def upgrade_vae_config(values: dict) -> dict:
    """A VAE run saved before the conv hidden layer existed (its whole config, without ``fc``) had none;
    one saved before the prior was a choice (without ``prior``) had the N(0, I) prior; one saved before
    random shifts existed (without ``shift``) trained on its images as they are, with LeakyReLU."""
    if {"arch", "hidden", "widths", "beta"} <= set(values):
        values = {"fc": 0, "prior": "normal", "shift": 0, "activation": "leaky_relu", **values}
    return values


@dataclass
class VAEConfig:
    """Variational autoencoder with an MLP or conv encoder/decoder."""

    latent_dim: int = latent_knob(16)
    arch: str = knob("conv", "Encoder/decoder", "conv: convolutions (sharper); mlp: fully connected layers.",
                     choices=("conv", "mlp"))
    hidden: tuple[int, ...] = hidden_knob()  # for arch="mlp"
    # (16, 32) trains about twice as fast as (32, 64) for the same -ELBO per epoch on mnist5k, so the
    # 30 s budget buys over 40 epochs instead of about 25 (bench/quality.py).
    widths: tuple[int, ...] = widths_knob((16, 32))  # for arch="conv"
    # 256 (with 20 epochs, lr 3e-3 and a cosine schedule) gave about 5 nats lower -ELBO on mnist5k
    # than none; 128 is about 1.5 nats worse than 256 (bench/quality.py). Runs saved before it existed
    # have none: upgrade_vae_config keeps them so.
    fc: int = knob(256, "Hidden layer (conv)", "Width of a fully connected layer between the convolutions "
                   "and the code, both ways; 0 = none.", lo=0, hi=4096, form=False)
    beta: float = knob(1.0, "beta (weight of the KL term)", "Above 1 (a beta-VAE): a smoother, more "
                       "disentangled latent space and blurrier images.", lo=0, step=0.1, ui_hi=10.0)
    # vamp (32 pseudo-images, started from training images) gives about 1.5 nats lower test -ELBO on
    # mnist5k than N(0, I), for about a quarter more time per step (bench/quality.py, vae-normal).
    prior: str = knob("vamp", "Prior", "vamp (VampPrior): a mixture of the encoder's Gaussians at learned "
                      "pseudo-images, which start as training images; fits the codes better. normal: "
                      "N(0, I), the classic VAE; a little faster per step.", choices=("vamp", "normal"))
    components: int = knob(32, "Pseudo-images (vamp)", "How many learned pseudo-images the VampPrior mixes.",
                           lo=1, hi=1024, form=False)
    # On mnist5k's 4,000 training images a VAE overfits (train -ELBO about 7 nats below test): shifting
    # half of each batch by up to 1 pixel narrows that and keeps paying off over 40-50 epochs, where
    # without it test -ELBO stalls after about 20; 2 pixels, or every image moved, is worse (bench/quality.py).
    shift: int = knob(1, "Random shifts (pixels)", "Each step moves half the training images by up to this "
                      "many whole pixels each way: the model sees more variety and overfits a small "
                      "dataset less. 0 = off. Images of at least 16x16 only.", lo=0, hi=4,
                      options=(0, 1, 2))
    # silu with Adam's beta2 = 0.99 (configure_optimizers) gave about 0.5 nats lower test -ELBO than
    # LeakyReLU(0.1) with 0.999, in 3 of 3 seeds on mnist5k, at the same cost. Older runs keep leaky_relu.
    # On the form because it decides how fast the first epochs go: silu is the best at the default 40
    # epochs (seeds 100.0 / 99.8 / 99.7 vs leaky_relu's 100.5 / 100.4 / 100.5), but slow to start (3
    # epochs: 177 nats vs 144; 8 epochs: 119 vs 112; bench/quality.py, seed 0).
    activation: str = knob("silu", "Activation", "Between the layers. silu (smooth): the lowest -ELBO after "
                           "the default 40 epochs. leaky_relu: learns much faster in the first few epochs "
                           "(the better choice for a short training), about half a nat worse at 40.",
                           choices=tuple(ACTIVATIONS))


def mlp(sizes: list[int], act: str = "leaky_relu") -> nn.Sequential:
    """Linear layers with an activation (LeakyReLU unless ``act`` says) between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(activation(act))
    return nn.Sequential(*layers)


def gauss_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, exp(logvar)) summed over the last dim, in nats."""
    return -0.5 * ((z - mu).pow(2) * (-logvar).exp() + logvar + LOG2PI).sum(-1)


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per row, in nats: (B, D) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)


def random_shift(x: torch.Tensor, pixels: int, share: float = 1.0) -> torch.Tensor:
    """A (B, C, H, W) batch in which a random ``share`` of the images each move by their own random
    whole-pixel offset of at most ``pixels`` each way (zeros fill in; pixel values are never
    interpolated); the others stay as they are. A batch whose H or W is under 16 (signals, tables of
    numbers, or images so small that a pixel is a large part of them) comes back unchanged."""
    b, c, h, w = x.shape
    if pixels <= 0 or min(h, w) < 16:
        return x
    padded = F.pad(x, (pixels, pixels, pixels, pixels))
    dy, dx = torch.randint(0, 2 * pixels + 1, (2, b, 1), device=x.device)
    still = torch.rand(b, 1, device=x.device) >= share
    dy, dx = dy.masked_fill(still, pixels), dx.masked_fill(still, pixels)
    rows = (torch.arange(h, device=x.device) + dy)[:, None, :, None]  # (B, 1, H, 1)
    cols = (torch.arange(w, device=x.device) + dx)[:, None, None, :]  # (B, 1, 1, W)
    return padded[torch.arange(b, device=x.device)[:, None, None, None],
                  torch.arange(c, device=x.device)[None, :, None, None], rows, cols]


def add_noise(x: torch.Tensor, std: float) -> torch.Tensor:
    """Gaussian-corrupted copy of x, clamped to [0, 1] (denoising AE input)."""
    return (x + std * torch.randn_like(x)).clamp(0, 1) if std > 0 else x


class _MLPBody(nn.Module):
    """Flatten -> MLP -> out_dim, and the mirrored decoder."""

    def __init__(self, shape: Shape, hidden: tuple[int, ...], out_dim: int, latent_dim: int,
                 act: str = "leaky_relu"):
        super().__init__()
        self.shape = shape
        n = shape[0] * shape[1] * shape[2]
        self.enc = mlp([n, *hidden, out_dim], act)
        self.dec = mlp([latent_dim, *reversed(hidden), n], act)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(z).view(-1, *self.shape)


class _ConvBody(nn.Module):
    """Pad -> stride-2 convs -> [hidden layer] -> linear to out_dim, and the mirrored decoder."""

    def __init__(self, shape: Shape, widths: tuple[int, ...], out_dim: int, latent_dim: int, fc: int = 0,
                 act: str = "leaky_relu"):
        super().__init__()
        self.pc = PadCrop(shape, 2 ** len(widths))
        f = 2 ** len(widths)
        self.grid = (widths[-1], self.pc.ph // f, self.pc.pw // f)
        flat = widths[-1] * self.grid[1] * self.grid[2]
        # fc = 0 keeps the layer names of runs saved before the hidden layer existed.
        head = [nn.Linear(flat, fc), activation(act), nn.Linear(fc, out_dim)] if fc else [nn.Linear(flat, out_dim)]
        self.enc = nn.Sequential(conv_encoder(shape[0], widths, act), nn.Flatten(), *head)
        self.fc = nn.Sequential(nn.Linear(latent_dim, fc), activation(act), nn.Linear(fc, flat)) if fc \
            else nn.Linear(latent_dim, flat)
        self.act = activation(act)
        self.dec = conv_decoder(shape[0], widths, act)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc(self.pc.pad(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.act(self.fc(z)).view(-1, *self.grid)  # (B, C', H/f, W/f)
        *body, last = self.dec
        for layer in body:
            h = layer(h)
        # The last transposed convolution (to the image's few channels) on channels-last input: the same
        # numbers, and oneDNN's fastest kernel for it on CPU (a whole training step 0.94x the time for the
        # CAE, 0.95x for the VAE, interleaved on 2 cores; the other layers gain nothing from it).
        out = last(h.contiguous(memory_format=torch.channels_last)).contiguous()
        return self.pc.crop(out)


class AE(LatentModel):
    """MLP autoencoder with optional denoising and sparsity."""


    def __init__(self, config: AEConfig, shape: Shape, n_classes: int = 0):
        super().__init__(config, shape, n_classes)
        self.body = self.make_body()

    def make_body(self) -> nn.Module:
        """The encoder/decoder pair (CAE swaps in the conv one)."""
        return _MLPBody(self.shape, self.config.hidden, self.latent_dim, self.latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.body.encode(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.body.decode(z)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        z = self.encode(add_noise(x, self.config.noise))
        rec = recon_bce(self.decode_logits(z), x)
        parts = {"loss": rec, "recon": rec}
        if self.config.sparsity > 0:
            l1 = z.abs().mean()
            parts["l1"] = l1
            parts["loss"] = rec + self.config.sparsity * l1
        return parts


class CAE(AE):
    """Convolutional autoencoder."""


    def make_body(self) -> nn.Module:
        return _ConvBody(self.shape, self.config.widths, self.latent_dim, self.latent_dim)


class VAE(LatentModel):
    """VAE: the encoder gives mu and log-variance; sample with the reparameterisation trick."""


    def __init__(self, config: VAEConfig, shape: Shape, n_classes: int = 0):
        super().__init__(config, shape, n_classes)
        d = config.latent_dim
        if config.arch == "mlp":
            self.body = _MLPBody(self.shape, config.hidden, 2 * d, d, config.activation)
        else:
            self.body = _ConvBody(self.shape, config.widths, 2 * d, d, config.fc, config.activation)
        if config.prior == "vamp":  # pseudo-images as logits; fit_start sets them to training images
            self.pseudo = nn.Parameter(torch.zeros(int(config.components), *self.shape))

    def configure_optimizers(self, lr: float) -> list[torch.optim.Optimizer]:
        """Adam with beta2 = 0.99 (the squared-gradient average forgets faster than 0.999: with the
        sampled KL and codes, 0.5 nats lower test -ELBO on mnist5k together with silu)."""
        return [adam(self.parameters(), lr=lr, betas=(0.9, 0.99))]

    def fit_start(self, x_train: torch.Tensor) -> None:
        """VampPrior: start the pseudo-images as randomly chosen training images."""
        if self.config.prior == "vamp":
            k = self.pseudo.shape[0]
            idx = torch.randperm(x_train.shape[0])[:k].to(x_train.device)
            idx = idx[torch.arange(k, device=idx.device) % idx.numel()]  # fewer images than pseudo-images: repeat
            with torch.no_grad():
                self.pseudo.copy_(torch.logit(x_train[idx].clamp(0.05, 0.95)).to(self.pseudo.device))

    def pseudo_images(self) -> torch.Tensor:
        """The VampPrior's learned pseudo-images (K, C, H, W), in [0, 1]."""
        return torch.sigmoid(self.pseudo)

    def prior_mixture(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The VampPrior's component means and log-variances, each (K, D); None for the N(0, I) prior."""
        if self.config.prior != "vamp":
            return None
        return self.moments(self.pseudo_images())

    def log_prior(self, z: torch.Tensor, mixture: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """log p(z) in nats, (..., D) -> (...); ``mixture`` from prior_mixture() (computed when not given)."""
        if self.config.prior != "vamp":
            return -0.5 * (z.pow(2) + LOG2PI).sum(-1)
        mu, logvar = mixture if mixture is not None else self.prior_mixture()
        comp = gauss_log_density(z.unsqueeze(-2), mu, logvar)  # (..., K)
        return torch.logsumexp(comp, -1) - math.log(mu.shape[0])

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor,
           mixture: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per image (B,), in nats: exact for N(0, I); for the VampPrior
        -H(q) (exact) - log p(z) averaged over the codes ``z`` (..., B, D) drawn from q."""
        if self.config.prior != "vamp":
            return kl_to_prior(mu, logvar)
        neg_entropy = -0.5 * (1 + logvar + LOG2PI).sum(-1)
        log_pz = self.log_prior(z, mixture)
        return neg_entropy - (log_pz.flatten(0, -2).mean(0) if z.dim() > 2 else log_pz)

    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each (B, D)."""
        mu, logvar = self.body.encode(x).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.moments(x)[0]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.body.decode(z)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The (beta-weighted) negative ELBO and its two parts, all in nats per image."""
        if self.training:
            x = random_shift(x, self.config.shift, SHIFT_SHARE)
        mixture = None
        if self.config.prior == "vamp":
            # The images and the pseudo-images in one encoder pass (the same numbers as two passes, with
            # half the layers' calls; the conv encoder has no batch statistics).
            mu, logvar = self.moments(torch.cat([x, self.pseudo_images()]))
            n = x.shape[0]
            mixture, mu, logvar = (mu[n:], logvar[n:]), mu[:n], logvar[:n]
        else:
            mu, logvar = self.moments(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        # Summed over pixels, averaged over images: the units papers report (nats per
        # image), so the live curve reads like evaluate()'s neg_elbo.
        rec = F.binary_cross_entropy_with_logits(self.decode_logits(z), x, reduction="none").flatten(1).sum(1).mean()
        kl = self.kl(mu, logvar, z, mixture).mean()
        return {"loss": rec + self.config.beta * kl, "recon": rec, "kl": kl}

    @torch.no_grad()
    def likelihood(self, x: torch.Tensor, k: int = IW_SAMPLES, seed: int = 0,
                   batch_size: int = 256) -> dict[str, float]:
        """-ELBO (= recon + KL) and the IWAE bound on -log p(x) with k samples, nats per image.

        For each image, k codes z_i ~ q(z|x) give log w_i = log p(x|z_i) + log p(z_i)
        - log q(z_i|x); the IWAE bound (Burda et al. 2016) is -log(mean_i w_i), which
        tightens towards -log p(x) as k grows and is never above the ELBO in expectation.
        The KL part is exact (closed form) for the N(0, I) prior; for the VampPrior its
        E_q[log p(z)] averages the same k codes (the entropy of q stays exact), as does the
        reconstruction part.
        log p(x|z) is the Bernoulli log-likelihood of the grey-level pixels, as in
        pytorch/examples' VAE (for grey levels it is not a normalised density, so
        compare with models scored the same way).
        """
        if k < 1:
            raise ValueError("the importance-weighted bound needs at least 1 sample")
        self.eval()
        dev = self.code_mean.device
        gen = torch.Generator(device=dev).manual_seed(seed)
        per = max(1, batch_size // k)  # images per chunk: about batch_size codes decoded at once (small is cache-friendly)
        rec_sum = kl_sum = iw_sum = 0.0
        mixture = self.prior_mixture()
        for b in x.split(per):
            b = b.to(dev)
            mu, logvar = self.moments(b)  # (B, D)
            std = (0.5 * logvar).exp()
            eps = torch.randn((k, *mu.shape), generator=gen, device=dev)  # (k, B, D)
            z = mu + std * eps
            logits = self.decode_logits(z.flatten(0, 1))  # (k*B, C, H, W)
            target = b.expand(k, *b.shape).flatten(0, 1)
            log_px = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)
            log_px = log_px.view(k, -1)  # (k, B)
            log_pz = self.log_prior(z, mixture)
            log_qz = -0.5 * (eps.pow(2) + logvar + LOG2PI).sum(-1)
            log_w = log_px + log_pz - log_qz  # (k, B)
            iw_sum += float(-(torch.logsumexp(log_w, 0) - math.log(k)).sum())
            rec_sum += float(-log_px.mean(0).sum())
            kl_sum += float(self.kl(mu, logvar, z, mixture).sum())
        n = max(1, int(x.shape[0]))
        rec, kl = rec_sum / n, kl_sum / n
        return {"neg_elbo": rec + kl, "recon_nats": rec, "kl_nats": kl, "nll_iw": iw_sum / n, "iw_samples": int(k)}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor | None = None,
                 batch_size: int = 512, iw_samples: int = IW_SAMPLES) -> dict[str, float]:
        """Reconstruction BCE/MSE per pixel plus -ELBO, its parts and the IWAE bound in nats."""
        return {**super().evaluate(x, y, batch_size), **self.likelihood(x, k=iw_samples)}

    def prior_sample(self, n: int, temperature: float = 1.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes from the prior: N(0, I), or for the VampPrior a pseudo-image's Gaussian
        (chosen uniformly) with its spread scaled by ``temperature``."""
        eps = temperature * torch.randn(n, self.latent_dim, generator=generator, device=self.code_mean.device)
        mixture = self.prior_mixture()
        if mixture is None:
            return eps
        mu, logvar = (t.detach() for t in mixture)
        idx = torch.randint(mu.shape[0], (n,), generator=generator, device=mu.device)
        return mu[idx] + (0.5 * logvar[idx]).exp() * eps
