package org.tfdiffusion.cli;

import java.util.Arrays;
import java.util.Iterator;
import org.tfdiffusion.data.FitMode;
import org.tfdiffusion.data.Split;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.naming.Named;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.schedule.BetaSchedule;
import org.tfdiffusion.train.TrainPreset;
import picocli.CommandLine;

/**
 * An option whose value names a constant of a {@link Named} enum: read by {@link Named#lookup} (any
 * case, aliases, '-' or '_'), refused with its one-line message otherwise, and completed with the
 * canonical names. One subclass per enum serves as both the option's {@code converter} and its
 * {@code completionCandidates} (picocli instantiates both by their no-argument constructor).
 *
 * @param <E> the enum
 */
public abstract class NamedOption<E extends Enum<E> & Named>
    implements CommandLine.ITypeConverter<E>, Iterable<String> {
  private final Class<E> type;
  private final String what;

  /**
   * @param type the enum
   * @param what what the enum is, for the message ("sampler", "fit mode")
   */
  protected NamedOption(Class<E> type, String what) {
    this.type = type;
    this.what = what;
  }

  @Override
  public E convert(String value) {
    try {
      return Named.lookup(type, what, value);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.TypeConversionException(e.getMessage());
    }
  }

  /** The canonical names, for completion. */
  @Override
  public Iterator<String> iterator() {
    return Arrays.stream(type.getEnumConstants()).map(Named::configName).iterator();
  }

  /** {@code train --preset}. */
  public static final class Preset extends NamedOption<TrainPreset> {
    public Preset() {
      super(TrainPreset.class, "preset");
    }
  }

  /** {@code --split}. */
  public static final class SplitName extends NamedOption<Split> {
    public SplitName() {
      super(Split.class, "split");
    }
  }

  /** {@code --fit}. */
  public static final class Fit extends NamedOption<FitMode> {
    public Fit() {
      super(FitMode.class, "fit mode");
    }
  }

  /** {@code --prediction}. */
  public static final class PredictionType extends NamedOption<Prediction> {
    public PredictionType() {
      super(Prediction.class, "prediction type");
    }
  }

  /** {@code --schedule}. */
  public static final class Schedule extends NamedOption<BetaSchedule> {
    public Schedule() {
      super(BetaSchedule.class, "beta schedule");
    }
  }

  /** {@code --sampler}. */
  public static final class Sampler extends NamedOption<SamplerKind> {
    public Sampler() {
      super(SamplerKind.class, "sampler");
    }
  }

  /** {@code --weights} and {@code --from-weights}: ema or raw. */
  public static final class Weights extends NamedOption<TrainedModel.Weights> {
    public Weights() {
      super(TrainedModel.Weights.class, "weights");
    }
  }
}
