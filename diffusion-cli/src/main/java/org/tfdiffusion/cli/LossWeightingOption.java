package org.tfdiffusion.cli;

import org.tfdiffusion.diffusion.LossWeighting;
import picocli.CommandLine;

/**
 * {@code --loss-weighting}: read by {@link LossWeighting#parse} ({@code uniform}, {@code min-snr},
 * {@code min-snr-GAMMA}), refused with its one-line message otherwise.
 */
public final class LossWeightingOption implements CommandLine.ITypeConverter<LossWeighting> {
  @Override
  public LossWeighting convert(String value) {
    try {
      return LossWeighting.parse(value);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.TypeConversionException(e.getMessage());
    }
  }
}
