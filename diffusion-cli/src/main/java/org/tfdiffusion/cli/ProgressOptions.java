package org.tfdiffusion.cli;

import java.util.Locale;
import org.tfdiffusion.train.Trainer;
import picocli.CommandLine.Option;

/**
 * {@code --progress} and {@code -q/--quiet} of the training commands ({@code train}, {@code
 * distill}): how a run reports its steps (a {@code @Mixin}).
 */
public final class ProgressOptions {
  @Option(
      names = "--progress",
      defaultValue = "auto",
      description = "bar, lines, quiet or auto (bar on a terminal, else lines).")
  String progress;

  @Option(
      names = {"-q", "--quiet"},
      description = "Same as --progress quiet.")
  boolean quiet;

  /**
   * The progress output chosen.
   *
   * @throws IllegalArgumentException naming the value and the valid ones
   */
  public Trainer.Progress progress() {
    if (quiet) {
      return Trainer.Progress.QUIET;
    }
    return switch (progress.trim().toLowerCase(Locale.ROOT)) {
      case "bar" -> Trainer.Progress.BAR;
      case "lines" -> Trainer.Progress.LINES;
      case "quiet" -> Trainer.Progress.QUIET;
      case "auto" -> System.console() != null ? Trainer.Progress.BAR : Trainer.Progress.LINES;
      default ->
          throw new IllegalArgumentException(
              "unknown --progress '" + progress + "'; valid: bar, lines, quiet, auto");
    };
  }
}
