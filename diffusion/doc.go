// Package diffusion is the method's second and third stages: a U-Net that
// denoises auto-encoder latents (ε-prediction, conditioned on the encoded,
// nearest-up-sampled low-resolution image), its training with the L2
// noise loss, the alignment fine-tuning that back-propagates an image loss
// through the frozen implicit decoder, the DDPM and DDIM samplers, and the
// SR model that ties the U-Net to its auto-encoder so an input of any size
// is upscaled to any output size in bounded memory.
//
// # Conditioning
//
// As in the seed paper's release, the LR image is nearest-up-sampled by the
// training scale (Config.Scale, 4), encoded by the frozen encoder and
// concatenated with z_t on the channel axis. With the encoder's factor
// f = 4 the latent of an h×w input is h×w, and the implicit decoder renders
// it at any size: the scale is chosen at decode time, not by the diffusion.
//
// # Latent normalisation
//
// The diffusion runs on n = (z − shift)·scale. By default shift and scale
// are per channel (mean and 1/std over a few hundred training crops):
// with the auto-encoder's global skip, three latent channels hold the
// image's area mean (mean ≈ 0.45, std ≈ 0.23) and the rest a learned
// residual of a very different spread, and one global 1/std (LDM's
// scale_factor, available as the "global" choice) would leave the
// residual channels far below the noise at every timestep.
//
// # Model file
//
// One safetensors file (kind "sr") is the whole model: the U-Net's weights
// under "unet." (the EMA weights, as the trainer saves them), the
// auto-encoder's under "ae.", and in the JSON config the U-Net's and the
// auto-encoder's architectures, the schedule, the scale and the latent
// normalisation. Embedding the auto-encoder (~7 MB in float16) means a
// model can never be paired with an auto-encoder other than the one its
// latents came from. Loading is strict (see package checkpoint).
//
// # Inference in bounded memory
//
// The condition is encoded in windows with a margin of context, and the
// U-Net runs over overlapping windows of the latent (SampleOptions.Tile):
// at every denoising step each window's ε̂ is weighted by a raised-cosine
// profile on the sides it shares with a neighbour and the sum normalised.
// The noise is drawn for the whole latent from the sample's own
// generator, so results do not depend on how many samples are drawn.
// Decoding goes through autoencoder.Decoder, which renders bands of rows.
package diffusion
