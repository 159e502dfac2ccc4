package org.tfdiffusion.cli;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The allowed range of every floating-point option, checked before any command runs: a value that
 * is not finite (NaN, Infinity, or a number too large for the float32 the graphs use, such as 1e39)
 * or outside its option's range is refused with one line that names the option and the range,
 * instead of training on an infinite learning rate or sampling black images.
 *
 * <p>Ranges are by option name, the same meaning in every command that has the option. Every
 * floating-point option of every command must have one ({@link #missing} lists those that do not; a
 * test keeps it empty).
 */
final class FloatOptions {
  /** The largest magnitude of a float32: anything above it becomes infinite in a graph. */
  static final double FLOAT32_MAX = Float.MAX_VALUE;

  /**
   * A closed or half-open interval of allowed values.
   *
   * @param min the lower bound
   * @param minOpen whether {@code min} itself is excluded
   * @param max the upper bound
   * @param maxOpen whether {@code max} itself is excluded
   */
  public record Range(double min, boolean minOpen, double max, boolean maxOpen) {
    public Range {
      if (!(min <= max)) {
        throw new IllegalArgumentException("empty range [" + min + ", " + max + "]");
      }
    }

    /** [min, max]. */
    static Range closed(double min, double max) {
      return new Range(min, false, max, false);
    }

    /** (min, max]. */
    static Range aboveUpTo(double min, double max) {
      return new Range(min, true, max, false);
    }

    /** [min, max). */
    static Range fromBelow(double min, double max) {
      return new Range(min, false, max, true);
    }

    /** Whether {@code value} is finite, fits float32 and lies in the range. */
    public boolean contains(double value) {
      return Double.isFinite(value)
          && Math.abs(value) <= FLOAT32_MAX
          && (minOpen ? value > min : value >= min)
          && (maxOpen ? value < max : value <= max);
    }

    /** The range as {@code [0, 1)}. */
    @Override
    public String toString() {
      return (minOpen ? "(" : "[") + number(min) + ", " + number(max) + (maxOpen ? ")" : "]");
    }

    private static String number(double v) {
      return v == Math.rint(v) && Math.abs(v) <= 1e6
          ? Long.toString((long) v)
          : String.format(Locale.ROOT, "%g", v).replaceAll("\\.?0+(e|$)", "$1");
    }
  }

  /** The greatest guidance scale taken (guided samples saturate long before it). */
  static final double MAX_GUIDANCE = 100;

  /** The greatest x̂₀ clip range taken (images live in [-1, 1]). */
  static final double MAX_CLIP_X0 = 100;

  /** The greatest gradient-clipping norm taken. */
  static final double MAX_CLIP_NORM = 1e6;

  /** The longest poll interval of {@code serve}: a day. */
  static final double MAX_POLL_SECONDS = 86_400;

  /** The longest connection timeout of {@code serve}: a day. */
  static final double MAX_TIMEOUT_SECONDS = 86_400;

  /** The largest power-function EMA exponent: σ_rel about 0.003, a few steps at any length. */
  static final double MAX_EMA_POWER = 1e5;

  /** Each floating-point option's allowed values, by its longest name. */
  static final Map<String, Range> RANGES =
      Map.ofEntries(
          Map.entry("--lr", Range.aboveUpTo(0, 1)),
          Map.entry("--min-lr", Range.closed(0, 1)),
          Map.entry("--weight-decay", Range.closed(0, 1)),
          Map.entry("--clip-norm", Range.closed(0, MAX_CLIP_NORM)),
          Map.entry("--ema-decay", Range.fromBelow(0, 1)),
          Map.entry("--ema-power", Range.aboveUpTo(0, MAX_EMA_POWER)),
          Map.entry("--p-uncond", Range.fromBelow(0, 1)),
          Map.entry("--dropout", Range.fromBelow(0, 1)),
          Map.entry("--guidance", Range.closed(0, MAX_GUIDANCE)),
          Map.entry("--sweep-guidance", Range.closed(0, MAX_GUIDANCE)),
          Map.entry("--eta", Range.closed(0, 1)),
          Map.entry("--strength", Range.aboveUpTo(0, 1)),
          Map.entry("--clip-x0", Range.closed(0, MAX_CLIP_X0)),
          Map.entry("--poll-seconds", Range.closed(0, MAX_POLL_SECONDS)),
          Map.entry("--header-timeout", Range.aboveUpTo(0, MAX_TIMEOUT_SECONDS)),
          Map.entry("--body-timeout", Range.aboveUpTo(0, MAX_TIMEOUT_SECONDS)),
          Map.entry("--idle-timeout", Range.aboveUpTo(0, MAX_TIMEOUT_SECONDS)));

  /** Options whose values are numbers given as text (parsed by their command). */
  private static final Set<String> NUMBERS_AS_TEXT = Set.of("--sweep-guidance");

  private FloatOptions() {}

  /** Runs {@code next} after checking the float options of every command that was parsed. */
  static CommandLine.IExecutionStrategy checkedBefore(CommandLine.IExecutionStrategy next) {
    return parseResult -> {
      check(parseResult);
      return next.execute(parseResult);
    };
  }

  /**
   * Checks the floating-point options given on the command line (defaults are in range).
   *
   * @throws CommandLine.ParameterException naming the option, the value and its range
   */
  static void check(CommandLine.ParseResult parseResult) {
    for (CommandLine.ParseResult result = parseResult;
        result != null;
        result = result.subcommand()) {
      CommandLine commandLine = result.commandSpec().commandLine();
      for (OptionSpec option : result.matchedOptions()) {
        Optional<Range> range = rangeOf(option);
        if (range.isEmpty()) {
          continue;
        }
        for (Object value : values(option.getValue())) {
          Optional<Double> number = number(value);
          if (number.isPresent() && !range.get().contains(number.get())) {
            throw new CommandLine.ParameterException(
                commandLine,
                String.format(
                    "%s %s is out of range: give a finite number in %s",
                    option.longestName(), text(option, value), range.get()),
                option,
                String.valueOf(value));
          }
        }
      }
    }
  }

  /** The floating-point options of {@code commandLine} and its subcommands that have no range. */
  public static List<String> missing(CommandLine commandLine) {
    List<String> out = new ArrayList<>();
    for (OptionSpec option : commandLine.getCommandSpec().options()) {
      if (isFloat(option) && !RANGES.containsKey(option.longestName())) {
        out.add(commandLine.getCommandSpec().qualifiedName(" ") + " " + option.longestName());
      }
    }
    commandLine.getSubcommands().values().forEach(sub -> out.addAll(missing(sub)));
    return out;
  }

  private static Optional<Range> rangeOf(OptionSpec option) {
    Range range = RANGES.get(option.longestName());
    return range != null && (isFloat(option) || NUMBERS_AS_TEXT.contains(option.longestName()))
        ? Optional.of(range)
        : Optional.empty();
  }

  /** Whether the option holds float or double values (alone, or in a collection). */
  static boolean isFloat(OptionSpec option) {
    List<Class<?>> types = new ArrayList<>();
    types.add(option.type());
    types.addAll(List.of(option.auxiliaryTypes()));
    return types.stream()
        .anyMatch(
            t -> t == double.class || t == Double.class || t == float.class || t == Float.class);
  }

  private static Collection<?> values(Object value) {
    if (value == null) {
      return List.of();
    }
    if (value instanceof Collection<?> c) {
      return c;
    }
    return List.of(value);
  }

  private static Optional<Double> number(Object value) {
    if (value instanceof Number n) {
      return Optional.of(n.doubleValue());
    }
    if (value instanceof String s) {
      try {
        return Optional.of(Double.parseDouble(s.trim()));
      } catch (NumberFormatException e) {
        return Optional.empty(); // the command reports text that is no number
      }
    }
    return Optional.empty();
  }

  /** The value as the user typed it (1e39, not the Infinity it became). */
  private static String text(OptionSpec option, Object value) {
    List<String> typed = option.originalStringValues();
    return !option.isMultiValue() && !typed.isEmpty()
        ? typed.get(typed.size() - 1)
        : String.valueOf(value);
  }
}
