package org.tfdiffusion.cli;

import java.util.Arrays;
import java.util.Iterator;
import org.tfdiffusion.naming.Named;
import org.tfdiffusion.run.TrainedModel;
import picocli.CommandLine;

/**
 * The {@code ema}/{@code raw} choice of a model's weights as an option value: any case, and listed
 * as {@code ema, raw} in completions.
 */
public final class WeightsOption {
  private WeightsOption() {}

  /** Reads {@code ema} or {@code raw} (any case, surrounding blanks ignored). */
  public static final class Converter implements CommandLine.ITypeConverter<TrainedModel.Weights> {
    @Override
    public TrainedModel.Weights convert(String value) {
      try {
        return TrainedModel.Weights.parse(value, "weights");
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }

  /** The names the option takes: ema, raw. */
  public static final class Candidates implements Iterable<String> {
    @Override
    public Iterator<String> iterator() {
      return Arrays.stream(TrainedModel.Weights.values()).map(Named::configName).iterator();
    }
  }
}
