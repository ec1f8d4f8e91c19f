"""Models trained by the chapters: the NLI model of the LPL paper's Fig. 2 (eq. 8) in :mod:`~lpa_utils.models.nli`;
the plain GAN and Barone's adversarial autoencoder in :mod:`~lpa_utils.models.adversarial`."""
