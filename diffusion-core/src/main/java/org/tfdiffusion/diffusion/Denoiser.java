package org.tfdiffusion.diffusion;

import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The network of a diffusion model as the process sees it: noisy images and their timesteps in, the
 * model output (ε, x_0 or v, see {@link Prediction}) out. Lets the process and the samplers be
 * driven by a dummy model in tests.
 */
@FunctionalInterface
public interface Denoiser {
  /**
   * @param xt noisy images [B, H, W, C]
   * @param t timesteps [B] in [0, T)
   * @return the model output, shaped like {@code xt}
   */
  Operand<TFloat32> apply(Operand<TFloat32> xt, Operand<TInt32> t);
}
